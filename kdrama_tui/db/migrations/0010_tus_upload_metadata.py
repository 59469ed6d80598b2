"""0010: ``uploads.tus_metadata`` keeps the ``Upload-Metadata`` header exactly as the client sent it.

tus 1.0 says a HEAD response MUST carry Upload-Metadata "as specified by the Client during the creation",
keys without values included. The session's own columns cannot give that back: ``filename`` is cleaned
for display, ``metadata`` keeps only the video fields this product knows (typed: ``year`` an integer,
``is_public`` a boolean), and keys without a value or that it ignores (``filetype``, ``relativePath``) are
dropped. Clients such as Uppy and tus-js-client read them back to recognise an upload to resume, so the
raw header is stored beside the parsed fields, which the product still reads as before.

NULL: a chunk-API session, or a tus one created before this version (HEAD then rebuilds the header from
the parsed fields, as it used to); an empty string: the client sent no metadata. The header's length is
bounded by the parser (16 KiB), so TEXT without a limit is enough. Adding a nullable column needs no table
rebuild on either database.
"""

SQLITE = """
ALTER TABLE uploads ADD COLUMN tus_metadata TEXT;
"""

POSTGRESQL = """
ALTER TABLE uploads ADD COLUMN tus_metadata TEXT;
"""
