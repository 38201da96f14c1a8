-- The search column stays in the row (STORAGE MAIN: compressed, moved out of line only when
-- the row cannot fit its page otherwise), so that ranking a search's candidates reads heap
-- pages instead of a TOAST lookup per candidate; the body goes out of line first. lz4 for it
-- and meta as for the body: pglz, the default, is the slow compressor. Applies to rows
-- written from now on; older rows stay readable as they are.
ALTER TABLE articles ALTER COLUMN search SET STORAGE MAIN,
    ALTER COLUMN search SET COMPRESSION lz4, ALTER COLUMN meta SET COMPRESSION lz4;
