"""The web dashboard (`mamfast web`): releases, the upload hand step, metrics."""
