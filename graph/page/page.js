// The live page (graph/page.py): a client of the public API only. Queries and mutations over
// HTTP POST /graphql; subscriptions over graphql-transport-ws on the same URL, with graphql-ws's
// client (served by this API from graph/page/node_modules, pinned by package-lock.json).
// Every subscription event reloads what it changes; after a dropped connection every
// subscription is made again with afterSequence (the last sequence received) and the page
// reloads what it shows (README, "Subscriptions").
import { createClient } from "./graphql-ws/client.js";

const ENDPOINT = new URL("graphql", document.baseURI).href;
const TOKEN_KEY = "inbox-graph-live-token";
const $ = (selector) => document.querySelector(selector);

// Lists are read 20 at a time: a page costs about 100 points of the token's budget (1,000,
// restored at 50 a second; README "Rate limits and query cost"); events then update them in
// place, at no cost.
const PAGE = 20;
const ITEM_FIELDS = `fragment Item on Conversation { id lastActivityAt
  contact { name blocked assignee { name } } lastMessage { text direction } }`;
const MESSAGE_FIELDS = `fragment Message on Message { id direction text createdAt author { name } }`;

const QUERIES = {
  login: `mutation Login($email: String!, $password: String!) {
    login(email: $email, password: $password) { token } }`,
  logout: `mutation Logout { logout }`,
  me: `query Me { me { name email role contactVisibility hasCallAccess } }`,
  markSeen: `mutation MarkSeen($inbox: InboxSelector!) { markInboxSeen(inbox: $inbox) { ...Sidebar } }`,
  list: `query List($inbox: InboxSelector!) { conversations(inbox: $inbox, first: ${PAGE}) {
    totalCount nodes { ...Item } } } ${ITEM_FIELDS}`,
  timeline: `query Timeline($id: ID!) { node(id: $id) { ... on Conversation { id status
    contact { name } timeline(last: ${PAGE}) { nodes { __typename
      ... on Message { ...Message }
      ... on Activity { id kind text createdAt author { name } assignee { name } } } } } } }
    ${MESSAGE_FIELDS}`,
  calls: `query Calls($tab: IncomingCallTab!) { incomingCalls(tab: $tab) {
    id status ringingAt contact { name assignee { name } } channel { name } } }`,
};
const SIDEBAR_FIELDS = `fragment Sidebar on InboxSidebar {
  standard { kind openConversationCount newMessageCount }
  teams { team { id name } openConversationCount newMessageCount }
  custom { id name sharing creator { name } }
  blocked { openConversationCount } }`;
QUERIES.markSeen += SIDEBAR_FIELDS;

const SUBSCRIPTIONS = {
  sidebar: `subscription Sidebar($after: Int) { inboxSidebarChanged(afterSequence: $after) {
    ...Sidebar } } ${SIDEBAR_FIELDS}`,
  list: `subscription List($inbox: InboxSelector, $after: Int) {
    conversationUpdated(inbox: $inbox, afterSequence: $after) { sequence change reason
      conversationId conversation { ...Item } } } ${ITEM_FIELDS}`,
  messages: `subscription Messages($after: Int) { newMessage(afterSequence: $after) {
    sequence conversation { id } message { ...Message } } } ${MESSAGE_FIELDS}`,
  ringing: `subscription Ringing($after: Int) { incomingCall(afterSequence: $after) { sequence id } }`,
  calls: `subscription Calls($after: Int) { callUpdated(afterSequence: $after) { sequence id } }`,
};

const CALL_TABS = ["ALL", "ASSIGNED_TO_ME", "UNASSIGNED"];

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  me: null,
  sidebar: null,
  customCounts: {},
  selected: null, // { key, label, selector, live }
  list: null, // { inbox, totalCount, nodes }
  conversationId: null,
  timeline: [],
  callTab: "ALL",
  lastSequence: null,
  client: null,
  live: new Map(), // subscription name -> dispose
};

class ApiError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.extensions?.code;
  }
}

async function graphql(query, variables = {}, retry = true) {
  const headers = {
    "content-type": "application/json",
    accept: "application/graphql-response+json, application/json",
  };
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  const response = await fetch(ENDPOINT, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  const error = body.errors?.[0];
  if (error?.extensions?.code === "RATE_LIMITED" && error.extensions.retryAfter && retry) {
    // nothing ran: wait as long as the API says, then ask again (once)
    await new Promise((resolve) => setTimeout(resolve, error.extensions.retryAfter * 1000));
    return graphql(query, variables, false);
  }
  if (error) throw new ApiError(error);
  return body.data;
}

// h("li", { class: "x", dataset: { id: 1 }, key: "a" }, "text", child): an element; text is
// never HTML. `key` names what the element shows (an inbox, a conversation) for morph.
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "onclick") element.onclick = value;
    else if (name === "key") element.key = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

// morph(parent, fresh): parent shows the fresh nodes, built by h() as if from scratch, but keeps
// the nodes it already has where they stand for the same thing: the element of the same key, else
// the node at the same place with the same tag, updated from its fresh copy (attributes, click
// handler, text, children). Live events redraw lists and the left panel several times a second;
// a click whose press and release land on two different elements is lost, so an inbox or
// conversation the user is clicking must stay the same element, in the page, through a redraw.
function morph(parent, fresh) {
  const current = [...parent.childNodes];
  const keyed = new Map(current.filter((node) => node.key !== undefined).map((node) => [node.key, node]));
  const next = fresh.map((node, i) => {
    const old = node.key !== undefined ? keyed.get(node.key) : current[i];
    if (!old || old.nodeName !== node.nodeName || old.key !== node.key) return node;
    if (node.nodeType !== Node.ELEMENT_NODE) {
      if (old.nodeValue !== node.nodeValue) old.nodeValue = node.nodeValue;
      return old;
    }
    for (const name of old.getAttributeNames()) if (!node.hasAttribute(name)) old.removeAttribute(name);
    for (const name of node.getAttributeNames()) {
      if (old.getAttribute(name) !== node.getAttribute(name)) old.setAttribute(name, node.getAttribute(name));
    }
    old.onclick = node.onclick;
    morph(old, [...node.childNodes]);
    return old;
  });
  // only what changed place moves: a node taken out of the page, even put back at once, loses
  // a click pressed on it, so the others stay where they are (one that left is removed, one
  // that came is inserted, one that moved up is moved alone)
  const staying = new Set(next);
  for (const node of current) if (!staying.has(node)) node.remove();
  let place = parent.firstChild;
  for (const node of next) {
    if (node === place) place = place.nextSibling;
    else parent.insertBefore(node, place);
  }
}

const when = (iso) => new Date(iso).toLocaleString();
const label = (kind) => kind.charAt(0) + kind.slice(1).toLowerCase().replaceAll("_", " ");

function setStatus(name, text = name) {
  $("#status").dataset.state = name;
  $("#status").textContent = text;
}

// Reloads are coalesced: many events in a burst reload once.
const pending = new Map();
function soon(name, reload) {
  if (pending.has(name)) return;
  pending.set(
    name,
    setTimeout(async () => {
      pending.delete(name);
      try {
        await reload();
      } catch (error) {
        showError(error);
      }
    }, 50),
  );
}

function showError(error) {
  if (error.code === "UNAUTHENTICATED") return signOut();
  console.warn(error);
}

function seen(sequence) {
  if (typeof sequence === "number" && (state.lastSequence === null || sequence > state.lastSequence)) {
    state.lastSequence = sequence;
  }
}

// ------------------------------------------------------------------------------------------
// The left panel
// ------------------------------------------------------------------------------------------

function inboxes(sidebar) {
  const standard = sidebar.standard.map((inbox) => ({
    key: `standard:${inbox.kind}`,
    label: label(inbox.kind),
    selector: { standard: inbox.kind },
    count: inbox.openConversationCount,
    fresh: inbox.newMessageCount,
    live: true,
  }));
  const teams = sidebar.teams.map((inbox) => ({
    key: `team:${inbox.team.id}`,
    label: inbox.team.name,
    selector: { teamId: inbox.team.id },
    count: inbox.openConversationCount,
    fresh: inbox.newMessageCount,
    live: true,
  }));
  const custom = sidebar.custom.map((inbox) => ({
    key: `custom:${inbox.id}`,
    label: inbox.name,
    title: `${label(inbox.sharing)}, by ${inbox.creator.name}`,
    selector: { customInboxId: inbox.id },
    count: state.customCounts[inbox.id],
    live: false,
  }));
  const blocked = sidebar.blocked
    ? [{ key: "blocked", label: "Blocked", selector: { blocked: true }, count: sidebar.blocked.openConversationCount, live: true }]
    : [];
  return { Inboxes: standard, Teams: teams, Custom: custom, Blocked: blocked };
}

function renderSidebar() {
  const groups = inboxes(state.sidebar);
  const panel = [];
  for (const [title, items] of Object.entries(groups)) {
    if (!items.length) continue;
    panel.push(
      h("h3", { key: `title:${title}` }, title),
      h(
        "ul",
        { key: `group:${title}` },
        ...items.map((inbox) =>
          h(
            "li",
            {
              key: inbox.key,
              class: "inbox",
              title: inbox.title,
              "aria-current": state.selected?.key === inbox.key ? "true" : "false",
              dataset: { inbox: inbox.key, count: inbox.count ?? "", ...(inbox.fresh !== undefined ? { new: inbox.fresh } : {}) },
              onclick: () => select(inbox).catch(showError),
            },
            h("span", { class: "dot", title: inbox.fresh ? `${inbox.fresh} with new messages` : null }),
            h("span", { class: "name" }, inbox.label),
            h("span", { class: "count" }, inbox.count === undefined ? "" : String(inbox.count)),
          ),
        ),
      ),
    );
  }
  morph($("#sidebar"), panel);
}

async function loadCustomCounts() {
  const custom = state.sidebar?.custom ?? [];
  if (!custom.length) return;
  const fields = custom.map(
    (inbox, i) => `c${i}: conversations(inbox: {customInboxId: $c${i}}, first: 1) { totalCount }`,
  );
  const variables = Object.fromEntries(custom.map((inbox, i) => [`c${i}`, inbox.id]));
  const query = `query CustomCounts(${custom.map((_, i) => `$c${i}: ID!`).join(", ")}) { ${fields.join(" ")} }`;
  const data = await graphql(query, variables);
  custom.forEach((inbox, i) => (state.customCounts[inbox.id] = data[`c${i}`].totalCount));
  renderSidebar();
}

function applySidebar(sidebar) {
  state.sidebar = sidebar;
  if (!state.selected) {
    const first = Object.values(inboxes(sidebar)).flat()[0];
    if (first) show(first);
  }
  renderSidebar();
  soon("custom-counts", loadCustomCounts);
  if (state.selected && !state.selected.live) soon("list", loadList); // custom lists: no live events
}

// ------------------------------------------------------------------------------------------
// The conversation list and the timeline
// ------------------------------------------------------------------------------------------

// show an inbox's list (live for standard, team and blocked inboxes)
function show(inbox) {
  state.selected = inbox;
  state.list = null;
  $("#list-title").textContent = inbox.label;
  $("#list-note").textContent = inbox.live ? "" : "Custom inboxes update when the left panel changes.";
  $("#conversations").replaceChildren();
  resubscribe("list");
  soon("list", loadList);
}

// the user opens an inbox: it clears the inbox's dot for them alone (domain.md section 3)
async function select(inbox) {
  show(inbox);
  renderSidebar();
  showPane("conversations");
  if (inbox.fresh !== undefined) {
    applySidebar((await graphql(QUERIES.markSeen, { inbox: inbox.selector })).markInboxSeen);
  }
}

async function loadList() {
  const inbox = state.selected;
  if (!inbox) return;
  const list = (await graphql(QUERIES.list, { inbox: inbox.selector })).conversations;
  if (state.selected !== inbox) return;
  state.list = { inbox, totalCount: list.totalCount, nodes: list.nodes };
  renderList();
}

// conversationUpdated: ENTERED and CHANGED put the conversation at its place (newest activity
// first), LEFT removes it; the list keeps its first PAGE conversations. The count moves at once,
// then the list is read again: an event replayed after a reconnect, or one that crossed the
// list's own read, may already be counted, and the read settles the count on the server's.
function applyListEvent(event) {
  const list = state.list;
  if (!list || list.inbox !== state.selected) return;
  const index = list.nodes.findIndex((node) => node.id === event.conversationId);
  if (index >= 0) list.nodes.splice(index, 1);
  if (event.change === "ENTERED" || event.change === "LEFT") soon("list", loadList);
  if (event.change === "LEFT") {
    if (index >= 0 || list.nodes.length < list.totalCount) list.totalCount -= 1;
  } else if (event.conversation) {
    if (event.change === "ENTERED" && index < 0) list.totalCount += 1;
    list.nodes.push(event.conversation);
    list.nodes.sort((a, b) => b.lastActivityAt.localeCompare(a.lastActivityAt));
    list.nodes.splice(PAGE);
  }
  renderList();
}

function renderList() {
  const { inbox, totalCount, nodes } = state.list;
  $("#list-title").textContent = `${inbox.label} · ${totalCount} open`;
  morph(
    $("#conversations"),
    nodes.map((conversation) =>
      h(
        "li",
        {
          key: conversation.id,
          dataset: { id: conversation.id },
          "aria-current": conversation.id === state.conversationId ? "true" : "false",
          onclick: () => openConversation(conversation.id).catch(showError),
        },
        h("div", { class: "contact" }, conversation.contact.name, conversation.contact.blocked ? " (blocked)" : ""),
        h("div", { class: "last" }, conversation.lastMessage?.text ?? ""),
        h(
          "div",
          { class: "muted" },
          `${when(conversation.lastActivityAt)} · ${conversation.contact.assignee?.name ?? "unassigned"}`,
        ),
      ),
    ),
  );
}

async function openConversation(id) {
  state.conversationId = id;
  for (const item of document.querySelectorAll("#conversations li")) {
    item.setAttribute("aria-current", item.dataset.id === id ? "true" : "false");
  }
  await loadTimeline();
}

async function loadTimeline() {
  const id = state.conversationId;
  if (!id) return;
  const conversation = (await graphql(QUERIES.timeline, { id })).node;
  if (state.conversationId !== id) return;
  if (!conversation) {
    $("#timeline-title").textContent = "This conversation is no longer visible to you.";
    state.timeline = [];
  } else {
    $("#timeline-title").textContent = `${conversation.contact.name} · ${label(conversation.status)}`;
    state.timeline = conversation.timeline.nodes;
  }
  renderTimeline();
}

function renderTimeline() {
  $("#timeline").replaceChildren(
    ...state.timeline.map((item) =>
      item.__typename === "Message"
        ? h(
            "li",
            { class: item.direction, dataset: { id: item.id } },
            item.text ?? "",
            h("time", {}, `${when(item.createdAt)}${item.author ? ` · ${item.author.name}` : ""}`),
          )
        : h(
            "li",
            { class: "activity", dataset: { id: item.id } },
            `${label(item.kind)}${item.author ? ` by ${item.author.name}` : ""}`,
            item.assignee ? ` → ${item.assignee.name}` : "",
            item.text ? `: ${item.text}` : "",
            h("time", {}, when(item.createdAt)),
          ),
    ),
  );
  $("#timeline").lastElementChild?.scrollIntoView({ block: "end" });
}

function applyMessage(event) {
  if (event.conversation.id !== state.conversationId) return;
  if (state.timeline.some((item) => item.id === event.message.id)) return;
  state.timeline.push({ __typename: "Message", ...event.message });
  renderTimeline();
}

// ------------------------------------------------------------------------------------------
// Incoming calls
// ------------------------------------------------------------------------------------------

function renderCallTabs() {
  $("#call-tabs").hidden = !state.me?.hasCallAccess;
  $("#call-tabs").replaceChildren(
    ...CALL_TABS.map((tab) =>
      h(
        "button",
        {
          type: "button",
          "aria-selected": tab === state.callTab ? "true" : "false",
          dataset: { tab },
          onclick: () => {
            state.callTab = tab;
            renderCallTabs();
            soon("calls", loadCalls);
          },
        },
        label(tab),
      ),
    ),
  );
}

async function loadCalls() {
  let calls;
  try {
    calls = (await graphql(QUERIES.calls, { tab: state.callTab })).incomingCalls;
  } catch (error) {
    if (error.code !== "FORBIDDEN") throw error;
    if (state.callTab === "ALL" && state.me.hasCallAccess) {
      // SELF agents have "Assigned to me" only (domain.md section 5)
      state.callTab = "ASSIGNED_TO_ME";
      renderCallTabs();
      return loadCalls();
    }
    // a tab this user does not have (or no call access): the API says which (domain.md section 5)
    $("#calls-note").textContent = error.message;
    $("#calls").replaceChildren();
    $("#ringing-count").textContent = "";
    return;
  }
  $("#calls-note").textContent = calls.length ? "" : "Nothing is ringing.";
  $("#ringing-count").textContent = calls.length ? `(${calls.length})` : "";
  $("#calls").replaceChildren(
    ...calls.map((call) =>
      h(
        "li",
        { dataset: { id: call.id, status: call.status } },
        h("div", { class: "contact" }, call.contact.name),
        h(
          "div",
          { class: "muted" },
          `${label(call.status)} on ${call.channel.name} since ${when(call.ringingAt)} · ${call.contact.assignee?.name ?? "unassigned"}`,
        ),
      ),
    ),
  );
}

function showPane(pane) {
  for (const tab of document.querySelectorAll("#middle > .tabs button")) {
    tab.setAttribute("aria-selected", tab.dataset.pane === pane ? "true" : "false");
  }
  $("#conversations-pane").hidden = pane !== "conversations";
  $("#calls-pane").hidden = pane !== "calls";
}

// ------------------------------------------------------------------------------------------
// Live: one graphql-transport-ws connection, resumed with afterSequence
// ------------------------------------------------------------------------------------------

function operations() {
  const ops = {
    sidebar: [SUBSCRIPTIONS.sidebar, {}, (data) => applySidebar(data.inboxSidebarChanged)],
    messages: [
      SUBSCRIPTIONS.messages,
      {},
      (data) => {
        seen(data.newMessage.sequence);
        applyMessage(data.newMessage);
      },
    ],
  };
  if (state.selected?.live) {
    ops.list = [
      SUBSCRIPTIONS.list,
      { inbox: state.selected.selector },
      (data) => {
        const event = data.conversationUpdated;
        seen(event.sequence);
        applyListEvent(event);
        // other changes than messages (assignment, closing …) are activities of the timeline
        if (event.conversationId === state.conversationId && event.reason !== "NEW_MESSAGE") {
          soon("timeline", loadTimeline);
        }
      },
    ];
  }
  if (state.me?.hasCallAccess) {
    const call = (field) => (data) => {
      seen(data[field].sequence);
      soon("calls", loadCalls);
    };
    ops.ringing = [SUBSCRIPTIONS.ringing, {}, call("incomingCall")];
    ops.calls = [SUBSCRIPTIONS.calls, {}, call("callUpdated")];
  }
  return ops;
}

function subscribe(name) {
  const operation = operations()[name];
  if (!operation || !state.client) return;
  const [query, variables, next] = operation;
  const dispose = state.client.subscribe(
    { query, variables: { ...variables, after: state.lastSequence } },
    {
      next: (result) => {
        if (result.errors?.length) return showError(new ApiError(result.errors[0]));
        next(result.data);
      },
      error: (error) => {
        const first = Array.isArray(error) ? error[0] : null;
        if (first?.extensions?.code === "HISTORY_PRUNED") {
          // too far behind to replay: start from now and reload what the page shows
          state.lastSequence = null;
          resubscribeAll();
          reloadAll();
        } else {
          console.warn(name, error);
        }
      },
      complete: () => {},
    },
  );
  state.live.set(name, dispose);
}

function unsubscribe(name) {
  state.live.get(name)?.();
  state.live.delete(name);
}

function resubscribe(name) {
  unsubscribe(name);
  subscribe(name);
}

function resubscribeAll() {
  for (const name of [...state.live.keys()]) unsubscribe(name);
  for (const name of Object.keys(operations())) subscribe(name);
}

// after a drop: the sidebar comes again with its subscription; the rest is read again
function reloadAll() {
  soon("list", loadList);
  soon("timeline", loadTimeline);
  soon("calls", loadCalls);
}

function connect() {
  let connections = 0;
  state.client = createClient({
    url: ENDPOINT.replace(/^http/, "ws"),
    lazy: false,
    retryAttempts: Infinity,
    shouldRetry: (event) => event?.code !== 4403, // a revoked or expired token: log in again
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** retries, 8000))),
    connectionParams: () => ({ authorization: `Bearer ${state.token}` }),
    // a close not worth retrying: a revoked token logs out, anything else asks for a reload
    onNonLazyError: (error) => (error?.code === 4403 ? signOut() : setStatus("offline", "offline: reload the page")),
    on: {
      connecting: () => setStatus(connections ? "reconnecting" : "connecting"),
      connected: () => {
        connections += 1;
        setStatus("live");
        // the first time from now on; after a drop, replaying what was missed (afterSequence)
        resubscribeAll();
        if (connections > 1) reloadAll();
      },
      closed: (event) => {
        // stop the old operations: they are made again, with afterSequence, once connected
        for (const name of [...state.live.keys()]) unsubscribe(name);
        setStatus(event?.code === 4403 ? "offline" : "reconnecting");
      },
    },
  });
}

// ------------------------------------------------------------------------------------------
// Logging in and out
// ------------------------------------------------------------------------------------------

async function start() {
  try {
    state.me = (await graphql(QUERIES.me)).me;
  } catch (error) {
    if (error.code === "UNAUTHENTICATED") return signOut();
    throw error;
  }
  $("#who").textContent = `${state.me.name} · ${state.me.email} · ${label(state.me.role)}, sees ${label(state.me.contactVisibility ?? "ALL")}`;
  $("#logout").hidden = false;
  $("#login-view").hidden = true;
  $("#inbox-view").hidden = false;
  renderCallTabs();
  // the left panel comes with its subscription, then the first inbox's list
  connect();
  await loadCalls();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.client?.dispose();
  state.client = null;
  state.live.clear();
  setStatus("offline");
  $("#who").textContent = "";
  $("#logout").hidden = true;
  $("#inbox-view").hidden = true;
  $("#login-view").hidden = false;
}

$("#login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  $("#login-error").textContent = "";
  try {
    const data = await graphql(QUERIES.login, {
      email: form.get("email"),
      password: form.get("password"),
    });
    state.token = data.login.token;
    sessionStorage.setItem(TOKEN_KEY, state.token);
    await start();
  } catch (error) {
    $("#login-error").textContent = error.message;
  }
});

$("#logout").addEventListener("click", async () => {
  try {
    await graphql(QUERIES.logout);
  } finally {
    signOut();
  }
});

for (const tab of document.querySelectorAll("#middle > .tabs button")) {
  tab.addEventListener("click", () => showPane(tab.dataset.pane));
}

if (document.body.dataset.clientInstalled !== "true") $("#client-missing").hidden = false;
if (state.token) start().catch(showError);
