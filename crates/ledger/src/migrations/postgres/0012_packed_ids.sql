-- herald ledger schema, version 12: compact rows. The keyed ids of the two tables that grow
-- with every send are stored as bytes: `id_pack` writes a form byte, then a 64-hex recipient
-- id or a `sha256:` template hash in 32 bytes, a canonical lowercase UUID in 16, anything
-- else verbatim (UTF-8); `id_unpack` reads any of them back as the same string (bytes of no
-- form read as `unreadable:` and their hex, which no seal matches). SQL functions, so the
-- planner inlines them; SQLite registers the same pair in code. The indexes no query needs
-- are gone: `sends_recipient` (the per-campaign recipient set reads the primary key's range of
-- the campaign) and the `sent` rows of `sends_state`. Seals are over the ids as strings, so no
-- row is resealed; `row_counts` and the checkpoint stay as they were.
CREATE OR REPLACE FUNCTION id_pack(t text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN t ~ '^[0-9a-f]{64}$' THEN '\x02'::bytea || decode(t, 'hex')
    WHEN t ~ '^sha256:[0-9a-f]{64}$' THEN '\x03'::bytea || decode(substr(t, 8), 'hex')
    WHEN t ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
        THEN '\x01'::bytea || decode(replace(t, '-', ''), 'hex')
    ELSE '\x00'::bytea || convert_to(t, 'UTF8')
END
$$;
CREATE OR REPLACE FUNCTION id_unpack(b bytea) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN length(b) = 0 THEN 'unreadable:'
    WHEN get_byte(b, 0) IN (2, 3) AND length(b) = 33 THEN
        CASE get_byte(b, 0) WHEN 3 THEN 'sha256:' ELSE '' END || encode(substr(b, 2), 'hex')
    WHEN get_byte(b, 0) = 1 AND length(b) = 17 THEN CAST(CAST(encode(substr(b, 2), 'hex') AS uuid) AS text)
    WHEN get_byte(b, 0) = 0 THEN convert_from(substr(b, 2), 'UTF8')
    ELSE 'unreadable:' || encode(b, 'hex')
END
$$;
DROP INDEX IF EXISTS sends_recipient;
DROP INDEX IF EXISTS sends_state;
CREATE INDEX sends_state ON sends (state, campaign) WHERE state <> 'sent';
-- Each column is converted once (a schema rolled back by hand to an older version number
-- keeps its bytes), in one rewrite per table.
DO $convert$
DECLARE
    t text;
    changes text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sends', 'conversations'] LOOP
        SELECT string_agg(format('ALTER COLUMN %I TYPE bytea USING id_pack(%I)', column_name, column_name), ', ')
        INTO changes
        FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = t AND data_type = 'text'
          AND column_name IN ('recipient', 'template_hash', 'message_id', 'conversation_id');
        IF changes IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I %s', t, changes);
        END IF;
    END LOOP;
END
$convert$;
