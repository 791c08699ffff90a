// Drive the live page (graph/page.py) in headless Chromium with every other host cut off
// (tests/test_live_page.py): each user logs in on their own page (own browser context) and opens
// an inbox; then a connector ingests a message over HTTP, and each page is read again without a
// reload; then the same contact calls, and the pages are read again. Then the first page's
// WebSocket is dropped, a second message is ingested while it is away, and the page is read once
// it has reconnected. Prints what each page showed, and the
// subscribe frames the first page sent, as JSON.
// Usage: node livepage.mjs <http://127.0.0.1:PORT> <config JSON>
//   config: { password, users: [{ email, inbox }], ingest: { token, channelId, from, texts: [a, b] } }
import { TIMEOUT, ingest as receive, launch, listed, logIn, newPage, opened, post, read } from "./livebrowser.mjs";

const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const outcome = { refused: [], consoleErrors: [], pages: [], subscribes: [], steps: [], consoleWarnings: [] };
const step = (name) => outcome.steps.push(`${Date.now() - started} ms: ${name}`);
const started = Date.now();

const ingest = (text, number) => receive(base, config.ingest, text, `live-page-${config.ingest.from}-${number}`);

async function ring(number) {
  const data = await post(base, config.ingest.token, `mutation($i: ReceiveCallInput!) { receiveCall(input: $i) { id } }`, {
    i: { channelId: config.ingest.channelId, from: config.ingest.from, externalCallId: `live-page-${config.ingest.from}-${number}` },
  });
  return data.receiveCall.id;
}

const browser = await launch();
try {
  const pages = [];
  const sockets = [];
  let away = false;
  for (const [index, user] of config.users.entries()) {
    const page = await newPage(browser, base, outcome, user.email);
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
    step(`${user.email}: log in`);
    await logIn(page, base, user.email, config.password, user.inbox);
    step(`${user.email}: open ${user.inbox}`);
    await page.click(`#sidebar [data-inbox="${user.inbox}"]`);
    await opened(page, user.inbox);
    pages.push(page);
    step(`${user.email}: ${user.inbox} is open and live`);
  }
  await new Promise((resolve) => setTimeout(resolve, 1500)); // every subscription started
  const before = await Promise.all(pages.map((page) => page.evaluate(read)));

  // 1. a message arrives: the first page changes without a reload
  const [first, second] = config.ingest.texts;
  step("ingest the first message");
  const sent = Date.now();
  await ingest(first, 1);
  await pages[0].waitForFunction(listed, first, { timeout: TIMEOUT, polling: 10 });
  outcome.ingestToPageMs = Date.now() - sent; // reported, not asserted
  await new Promise((resolve) => setTimeout(resolve, 2000)); // what else would arrive, has
  const after = await Promise.all(pages.map((page) => page.evaluate(read)));

  // 2. the same contact calls: it rings on the first page's incoming calls
  step("ring");
  const call = await ring(1);
  await pages[0].waitForFunction((id) => document.querySelector(`#calls li[data-id="${id}"]`), call, { timeout: TIMEOUT });
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const ringing = await Promise.all(pages.map((page) => page.evaluate(read)));
  outcome.call = call;

  // 3. the first page loses its connection; a message arrives meanwhile; it reconnects
  step("drop the first page's WebSocket");
  away = true;
  for (const ws of sockets) await ws.close({ code: 1012, reason: "test: away" });
  await pages[0].waitForFunction(() => document.querySelector("#status").dataset.state !== "live", null, { timeout: TIMEOUT });
  const subscribesBefore = outcome.subscribes.length;
  await ingest(second, 2);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const whileAway = await pages[0].evaluate(read);
  step("let it reconnect");
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
  // what each page showed when it failed
  outcome.failedPages = await Promise.all(
    (browser.contexts() ?? []).flatMap((context) => context.pages()).map((page) => page.evaluate(read).catch(String)),
  );
} finally {
  await browser.close();
}
console.log(JSON.stringify(outcome));
