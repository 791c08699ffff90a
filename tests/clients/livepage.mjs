// Drive the live page (graph/page.py) in headless Chromium with every other host cut off
// (tests/test_live_page.py): each user logs in on their own page (own browser context) and opens
// an inbox; then a connector ingests a message over HTTP, and each page is read again without a
// reload; then the same contact calls, and the pages are read again. Then the first page's WebSocket is dropped, a second message is ingested while it is
// away, and the page is read once it has reconnected. Prints what each page showed, and the
// subscribe frames the first page sent, as JSON.
// Usage: node livepage.mjs <http://127.0.0.1:PORT> <config JSON>
//   config: { password, users: [{ email, inbox }], ingest: { token, channelId, from, texts: [a, b] } }
import { chromium } from "playwright-core";

const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const origin = new URL(base).origin;
const outcome = { refused: [], consoleErrors: [], pages: [], subscribes: [] };
const TIMEOUT = 30000;

function read() {
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

async function ingest(text, number) {
  const response = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${config.ingest.token}` },
    body: JSON.stringify({
      query: `mutation($i: ReceiveMessageInput!) { receiveMessage(input: $i) { messageId } }`,
      variables: {
        i: { channelId: config.ingest.channelId, from: config.ingest.from, externalMessageId: `live-page-${config.ingest.from}-${number}`, text },
      },
    }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
}

async function ring(number) {
  const response = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${config.ingest.token}` },
    body: JSON.stringify({
      query: `mutation($i: ReceiveCallInput!) { receiveCall(input: $i) { id } }`,
      variables: {
        i: { channelId: config.ingest.channelId, from: config.ingest.from, externalCallId: `live-page-${config.ingest.from}-${number}` },
      },
    }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data.receiveCall.id;
}

const listed = (text) => [...document.querySelectorAll("#conversations li .last")].some((e) => e.textContent === text);

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const pages = [];
  const sockets = [];
  let away = false;
  for (const [index, user] of config.users.entries()) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.route("**/*", (route) => {
      const requested = route.request().url();
      if (requested.startsWith(origin)) return route.continue();
      outcome.refused.push(requested);
      return route.abort("internetdisconnected");
    });
    if (index === 0) {
      // the first page's WebSockets pass through here: dropped and held off on demand
      await page.routeWebSocket(/\/graphql$/, (ws) => {
        if (away) return ws.close({ code: 1012, reason: "test: away" });
        const server = ws.connectToServer();
        ws.onMessage((message) => {
          const frame = JSON.parse(message);
          if (frame.type === "subscribe") outcome.subscribes.push(frame.payload);
          server.send(message);
        });
        sockets.push(ws);
      });
    }
    page.on("console", (message) => {
      if (message.type() === "error") outcome.consoleErrors.push(`${user.email}: ${message.text()}`);
    });
    page.on("pageerror", (error) => outcome.consoleErrors.push(`${user.email}: ${error}`));
    await page.goto(`${base}/`, { waitUntil: "load" });
    await page.fill("input[name=email]", user.email);
    await page.fill("input[name=password]", config.password);
    await page.click("#login button[type=submit]");
    await page.waitForSelector(`#sidebar [data-inbox="${user.inbox}"]`, { timeout: TIMEOUT });
    await page.click(`#sidebar [data-inbox="${user.inbox}"]`);
    await page.waitForFunction(
      (key) => document.querySelector(`#sidebar [data-inbox="${key}"]`)?.getAttribute("aria-current") === "true" &&
        document.querySelector("#list-title").textContent.includes(" open") &&
        document.querySelector("#status").dataset.state === "live",
      user.inbox,
      { timeout: TIMEOUT },
    );
    pages.push(page);
  }
  await new Promise((resolve) => setTimeout(resolve, 1500)); // every subscription started
  const before = await Promise.all(pages.map((page) => page.evaluate(read)));

  // 1. a message arrives: the first page changes without a reload
  const [first, second] = config.ingest.texts;
  const sent = Date.now();
  await ingest(first, 1);
  await pages[0].waitForFunction(listed, first, { timeout: TIMEOUT, polling: 10 });
  outcome.ingestToPageMs = Date.now() - sent; // reported, not asserted
  await new Promise((resolve) => setTimeout(resolve, 2000)); // what else would arrive, has
  const after = await Promise.all(pages.map((page) => page.evaluate(read)));

  // 2. the same contact calls: it rings on the first page's incoming calls
  const call = await ring(1);
  await pages[0].waitForFunction((id) => document.querySelector(`#calls li[data-id="${id}"]`), call, { timeout: TIMEOUT });
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const ringing = await Promise.all(pages.map((page) => page.evaluate(read)));
  outcome.call = call;

  // 3. the first page loses its connection; a message arrives meanwhile; it reconnects
  away = true;
  for (const ws of sockets) await ws.close({ code: 1012, reason: "test: away" });
  await pages[0].waitForFunction(() => document.querySelector("#status").dataset.state !== "live", null, { timeout: TIMEOUT });
  const subscribesBefore = outcome.subscribes.length;
  await ingest(second, 2);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const whileAway = await pages[0].evaluate(read);
  away = false;
  await pages[0].waitForFunction(listed, second, { timeout: TIMEOUT });
  const resumed = await pages[0].evaluate(read);
  outcome.resubscribes = outcome.subscribes.slice(subscribesBefore);

  outcome.pages = config.users.map((user, i) => ({
    email: user.email,
    before: before[i],
    after: after[i],
    ringing: ringing[i],
  }));
  outcome.whileAway = whileAway;
  outcome.resumed = resumed;
  if (process.env.LIVE_PAGE_SCREENSHOT) await pages[0].screenshot({ path: process.env.LIVE_PAGE_SCREENSHOT });
} catch (error) {
  outcome.error = String(error.stack ?? error);
} finally {
  await browser.close();
}
console.log(JSON.stringify(outcome));
