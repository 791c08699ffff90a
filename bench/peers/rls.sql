-- PostGraphile with row-level security on the workspace (bench/peers' "PostGraphile + RLS"
-- side): a role without BYPASSRLS that PostGraphile switches to in every request's transaction
-- (pgSettings: role, and jwt.claims.workspace_id from the request), and on every table of the
-- screens that has a workspace_id a policy keeping that workspace's rows. inbox-graph connects
-- as the superuser, which row-level security does not apply to, so nothing changes for it.
-- Only roles without BYPASSRLS are filtered (here: inbox_peer_rls alone). Idempotent (a table
-- or policy already there is left alone): run by bench/peers before PostGraphile starts.
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'inbox_peer_rls') THEN
    CREATE ROLE inbox_peer_rls NOLOGIN;
  END IF;
END $$;
GRANT USAGE ON SCHEMA public TO inbox_peer_rls;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO inbox_peer_rls;

CREATE OR REPLACE FUNCTION peer_workspace() RETURNS int LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('jwt.claims.workspace_id', true), '')::int
$$;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['activity', 'channel', 'channel_identity', 'contact', 'conversation',
      'custom_inbox', 'message', 'open_conversation_count', 'team', 'user', 'workspace'] LOOP
    IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = format('public.%I', t)::regclass) THEN
      EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE tablename = t AND policyname = 'peer_workspace') THEN
      EXECUTE format('CREATE POLICY peer_workspace ON %I FOR SELECT TO inbox_peer_rls USING (%I = peer_workspace())',
                     t, CASE WHEN t = 'workspace' THEN 'id' ELSE 'workspace_id' END);
    END IF;
  END LOOP;
END $$;
