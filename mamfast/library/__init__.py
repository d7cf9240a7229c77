"""Reading the Libation library (read only): the one reader of a book folder.

`walk` finds book folders, `selection` picks a book's files, `metadata` and
`names` say what the book is, `book` turns one folder into a release
candidate, `cache` remembers unchanged folders, and `discovery` composes them
(the whole library for the pipeline, one folder for `mamjson`/`bbcode`).
"""
