// What the live page's browser scripts share (livepage.mjs, liveclick.mjs): headless Chromium
// (Debian's /usr/bin/chromium) with every host but the served app cut off, each user on a page
// of their own browser context, and the connector's HTTP calls.
import { chromium } from "playwright-core";

export const TIMEOUT = 30000; // ms, for any one thing a page is waited for

export function launch() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// A page in a context of its own. A request to any other host than the served app's is refused
// and listed in outcome.refused; console errors and page errors go to outcome.consoleErrors,
// console warnings (the page's own failures, showError) to outcome.consoleWarnings.
export async function newPage(browser, base, outcome, who) {
  const origin = new URL(base).origin;
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.route("**/*", (route) => {
    const requested = route.request().url();
    if (requested.startsWith(origin)) return route.continue();
    outcome.refused.push(requested);
    return route.abort("internetdisconnected");
  });
  page.on("console", (message) => {
    if (message.type() === "error") outcome.consoleErrors.push(`${who}: ${message.text()}`);
    if (message.type() === "warning") outcome.consoleWarnings.push(`${who}: ${message.text()}`);
  });
  page.on("pageerror", (error) => outcome.consoleErrors.push(`${who}: ${error}`));
  return page;
}

// What a page shows (run in the page: page.evaluate(read)): its connection's state, the open
// list's title and last messages, each inbox's count and dot, the ringing calls.
export function read() {
  const inboxes = {};
  for (const item of document.querySelectorAll("#sidebar [data-inbox]")) {
    inboxes[item.dataset.inbox] = {
      count: item.dataset.count,
      dot: getComputedStyle(item.querySelector(".dot")).visibility === "visible",
    };
  }
  return {
    status: document.querySelector("#status").dataset.state,
    title: document.querySelector("#list-title").textContent,
    inboxes,
    list: [...document.querySelectorAll("#conversations li .last")].map((e) => e.textContent),
    ringing: [...document.querySelectorAll("#calls li")].map((e) => e.dataset.id),
  };
}

// Whether the open list shows a conversation whose last message is `text` (in the page).
export const listed = (text) => [...document.querySelectorAll("#conversations li .last")].some((e) => e.textContent === text);

// Open the live page and log in; resolves once the left panel shows `inbox` (its first live
// event has arrived).
export async function logIn(page, base, email, password, inbox) {
  await page.goto(`${base}/`, { waitUntil: "load" });
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", password);
  await page.click("#login button[type=submit]");
  await page.waitForSelector(`#sidebar [data-inbox="${inbox}"]`, { timeout: TIMEOUT });
}

// Resolves once `inbox` is the open one, its list read and the page live.
export function opened(page, inbox) {
  return page.waitForFunction(
    (key) => document.querySelector(`#sidebar [data-inbox="${key}"]`)?.getAttribute("aria-current") === "true" &&
      document.querySelector("#list-title").textContent.includes(" open") &&
      document.querySelector("#status").dataset.state === "live",
    inbox,
    { timeout: TIMEOUT },
  );
}

// A connector's call over HTTP POST /graphql (its token); throws on any GraphQL error.
export async function post(base, token, query, variables) {
  const response = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

// An inbound message from `from` on the connector's channel (receiveMessage).
export function ingest(base, ingest, text, externalMessageId) {
  return post(base, ingest.token, `mutation($i: ReceiveMessageInput!) { receiveMessage(input: $i) { messageId } }`, {
    i: { channelId: ingest.channelId, from: ingest.from, externalMessageId, text },
  });
}
