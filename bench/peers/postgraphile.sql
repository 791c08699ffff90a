-- What a PostGraphile user adds to the seeded inbox-graph database for the four screens
-- bench/peers measures (run by bench/peers before PostGraphile starts; idempotent, functions
-- and types only, no table changed). PostGraphile exposes a function whose first argument is a
-- table row as a computed column of that table, and any other STABLE function as a Query field.
-- Where inbox-graph's rules need the viewer (the sidebar's "mine" and teams, phone masking),
-- the function takes the viewer's user id as an argument, as the list takes the workspace as a
-- condition.

-- The inbox list: the contact's name (domain.md: first and last name, else the email, else
-- "Unknown contact") and the conversation's last message (last_message_id is not a foreign key).
CREATE OR REPLACE FUNCTION contact_name(k contact) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT COALESCE(NULLIF(concat_ws(' ', NULLIF(k.first_name, ''), NULLIF(k.last_name, '')), ''),
                  k.email, 'Unknown contact')
$$;
CREATE OR REPLACE FUNCTION conversation_last_message(c conversation) RETURNS message
  LANGUAGE sql STABLE AS $$ SELECT * FROM message WHERE id = c.last_message_id $$;

-- Composite types the functions return (created once; a changed shape needs DROP ... CASCADE).
DO $$ BEGIN
  IF to_regtype('peer_inbox_count') IS NULL THEN
    CREATE TYPE peer_inbox_count AS (kind text, new_message_count int, open_conversation_count int);
  END IF;
  IF to_regtype('peer_team_count') IS NULL THEN
    CREATE TYPE peer_team_count AS (
      team_id int, team_name text, new_message_count int, open_conversation_count int);
  END IF;
  IF to_regtype('peer_timeline_item') IS NULL THEN
    CREATE TYPE peer_timeline_item AS (
      typename text, id int, kind text, text text, direction text, created_at timestamptz,
      author_id int, author_name text);
  END IF;
  IF to_regtype('peer_contact_channel') IS NULL THEN
    CREATE TYPE peer_contact_channel AS (channel_id int, type text, name text, handles text[]);
  END IF;
END $$;

-- The sidebar (domain.md section 3): the standard inboxes, the viewer's teams, the custom
-- inboxes it may see, the blocked inbox; counts from the same tables inbox-graph keeps
-- (open_conversation_count per assignee, unseen_mark per user and inbox).
CREATE OR REPLACE FUNCTION peer_sidebar_standard(viewer int) RETURNS SETOF peer_inbox_count
  LANGUAGE sql STABLE AS $$
  WITH v AS (SELECT id, workspace_id FROM "user" WHERE id = viewer),
  unseen AS (
    SELECT m.inbox_key, c.contact_assignee_id AS assignee, count(*) AS n
    FROM unseen_mark m JOIN conversation c ON c.id = m.conversation_id, v
    WHERE m.user_id = v.id AND c.workspace_id = v.workspace_id AND c.status = 'OPEN'
      AND NOT c.contact_blocked
    GROUP BY 1, 2)
  SELECT k.kind,
    (SELECT coalesce(sum(u.n), 0) FROM unseen u WHERE u.inbox_key = k.kind
       AND (k.kind = 'ALL' OR (k.kind = 'MINE' AND u.assignee = v.id)
            OR (k.kind = 'UNASSIGNED' AND u.assignee IS NULL)))::int,
    (SELECT coalesce(sum(o.count), 0) FROM open_conversation_count o
     WHERE o.workspace_id = v.workspace_id AND NOT o.blocked
       AND (k.kind = 'ALL' OR (k.kind = 'MINE' AND o.assignee_key = v.id)
            OR (k.kind = 'UNASSIGNED' AND o.assignee_key = 0)))::int
  FROM v, (VALUES (1, 'ALL'), (2, 'MINE'), (3, 'UNASSIGNED')) AS k(ord, kind)
  ORDER BY k.ord
$$;

CREATE OR REPLACE FUNCTION peer_sidebar_teams(viewer int) RETURNS SETOF peer_team_count
  LANGUAGE sql STABLE AS $$
  WITH v AS (SELECT id, workspace_id, role FROM "user" WHERE id = viewer)
  SELECT t.id, t.name::text,
    (SELECT count(*) FROM unseen_mark m JOIN conversation c ON c.id = m.conversation_id
     WHERE m.user_id = v.id AND m.inbox_key = 'team:' || t.id AND c.workspace_id = v.workspace_id
       AND c.status = 'OPEN' AND NOT c.contact_blocked
       AND c.contact_assignee_id IN (SELECT user_id FROM team_membership WHERE team_id = t.id))::int,
    (SELECT coalesce(sum(o.count), 0) FROM open_conversation_count o
     WHERE o.workspace_id = v.workspace_id AND NOT o.blocked
       AND o.assignee_key IN (SELECT user_id FROM team_membership WHERE team_id = t.id))::int
  FROM v JOIN team t ON t.workspace_id = v.workspace_id
  WHERE v.role IN ('OWNER', 'MANAGER')
     OR EXISTS (SELECT 1 FROM team_membership m WHERE m.team_id = t.id AND m.user_id = v.id)
  ORDER BY t.id
$$;

CREATE OR REPLACE FUNCTION peer_sidebar_custom(viewer int) RETURNS SETOF custom_inbox
  LANGUAGE sql STABLE AS $$
  SELECT ci.* FROM custom_inbox ci JOIN "user" v ON v.id = viewer
  WHERE ci.workspace_id = v.workspace_id AND (ci.creator_id = v.id OR ci.sharing = 'EVERYONE'
    OR (ci.sharing = 'CHOSEN' AND ci.id IN (
      SELECT s.custom_inbox_id FROM custom_inbox_share s
      WHERE s.user_id = v.id OR s.team_id IN (
        SELECT t.id FROM team t WHERE t.workspace_id = v.workspace_id
          AND (v.role IN ('OWNER', 'MANAGER') OR EXISTS (
            SELECT 1 FROM team_membership m WHERE m.team_id = t.id AND m.user_id = v.id))))))
  ORDER BY ci.name, ci.id
$$;

-- The blocked inbox's open conversations; NULL when the workspace has no blocked contact.
CREATE OR REPLACE FUNCTION peer_sidebar_blocked(viewer int) RETURNS int LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN EXISTS (SELECT 1 FROM contact k WHERE k.workspace_id = v.workspace_id AND k.blocked)
    THEN (SELECT count(*) FROM conversation c WHERE c.workspace_id = v.workspace_id
          AND c.status = 'OPEN' AND c.contact_blocked)::int END
  FROM "user" v WHERE v.id = viewer
$$;

-- The timeline (domain.md section 5): a conversation's messages and activities, oldest first.
CREATE OR REPLACE FUNCTION conversation_timeline(c conversation) RETURNS SETOF peer_timeline_item
  LANGUAGE sql STABLE AS $$
  SELECT typename, id, kind, text, direction, created_at, author_id, author_name FROM (
    SELECT 'Message' AS typename, m.id, NULL::text AS kind, m.text, m.direction::text,
           m.created_at, m.author_id, u.name::text AS author_name, 0 AS rank
    FROM message m LEFT JOIN "user" u ON u.id = m.author_id WHERE m.conversation_id = c.id
    UNION ALL
    SELECT 'Activity', a.id, a.kind::text, a.text, NULL, a.created_at, a.author_id, u.name, 1
    FROM activity a LEFT JOIN "user" u ON u.id = a.author_id WHERE a.conversation_id = c.id
  ) items ORDER BY created_at, rank, id
$$;

-- The contact panel (domain.md section 6): the phone as the viewer may read it (masked unless
-- the viewer is the owner, when the workspace masks numbers: graph/permissions/fields.py's
-- mask_phone, "+447911123456" -> "+44 79•• •••456"), the channels with the contact's handles,
-- and the merge suggestions (same phone or same normalised email).
CREATE OR REPLACE FUNCTION peer_mask_phone(e164 text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN e164 IS NULL OR e164 = '' THEN e164
    WHEN length(national) <= 5 THEN trim(country || ' ' || repeat('•', length(national)))
    ELSE trim(replace(country || ' ' || left(national, 2) || left(hidden, 2) || ' '
                      || substr(hidden, 3) || right(national, 3), '  ', ' '))
  END
  FROM (SELECT '+' || left(digits, cc) AS country, substr(digits, cc + 1) AS national,
               repeat('•', greatest(length(digits) - cc - 5, 0)) AS hidden
        FROM (SELECT digits, CASE
                WHEN digits ~ '^[17]' THEN 1
                WHEN digits ~ '^(2[07]|3[0-469]|4[013-9]|5[1-8]|6[0-6]|8[1246]|9[0-58])' THEN 2
                ELSE 3 END AS cc
              FROM (SELECT ltrim(e164, '+') AS digits) d) c) p
$$;

CREATE OR REPLACE FUNCTION peer_phone_masked(workspace_id int, viewer int) RETURNS boolean
  LANGUAGE sql STABLE AS $$
  SELECT w.phone_number_masking AND (SELECT u.role FROM "user" u WHERE u.id = viewer) <> 'OWNER'
  FROM workspace w WHERE w.id = workspace_id
$$;

CREATE OR REPLACE FUNCTION contact_phone_seen(k contact, viewer int) RETURNS text
  LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN peer_phone_masked(k.workspace_id, viewer) THEN peer_mask_phone(k.phone)
              ELSE k.phone END
$$;

CREATE OR REPLACE FUNCTION contact_channels(k contact, viewer int) RETURNS SETOF peer_contact_channel
  LANGUAGE sql STABLE AS $$
  SELECT ch.id, ch.type::text, ch.name::text,
    coalesce(array_agg(CASE WHEN masked AND ch.type IN ('WHATSAPP', 'SMS', 'VOIP', 'VIBER')
                            THEN peer_mask_phone(i.handle) ELSE i.handle END ORDER BY i.id)
             FILTER (WHERE i.id IS NOT NULL), '{}')
  FROM channel ch
  CROSS JOIN (SELECT peer_phone_masked(k.workspace_id, viewer) AS masked) m
  LEFT JOIN channel_identity i ON i.channel_id = ch.id AND i.contact_id = k.id
  WHERE ch.workspace_id = k.workspace_id
  GROUP BY ch.id, m.masked ORDER BY ch.id
$$;

CREATE OR REPLACE FUNCTION contact_merge_suggestions(k contact) RETURNS SETOF contact
  LANGUAGE sql STABLE AS $$
  SELECT o.* FROM contact o WHERE o.workspace_id = k.workspace_id AND o.id <> k.id
    AND (o.phone = k.phone OR o.email_normalized = k.email_normalized)
  ORDER BY o.created_at, o.id LIMIT 20
$$;
