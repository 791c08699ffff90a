// A click that spans a live update still opens what was pressed (tests/test_live_page.py). On
// the live page (graph/page.py) in headless Chromium, a user presses the mouse and, before they
// release it, a live event redraws what is under it:
// 1. the first conversation of the open list (ALL) is pressed, and another one, lower in the
//    list, is closed by its owner (conversationUpdated LEFT: the list loses it, then is read
//    again and gains one at its end);
// 2. an inbox of the left panel is pressed, and a message from a new number changes the panel's
//    counts (inboxSidebarChanged).
// Prints what the page showed after each release as JSON.
// Usage: node liveclick.mjs <http://127.0.0.1:PORT> <config JSON>
//   config: { email, password, press, watch, owner, ingest: { token, channelId, from, text } }
//   press: the inbox pressed; watch: an inbox whose count the message changes; owner: a token
//   that may close any conversation
import { TIMEOUT, ingest, launch, logIn, newPage, post, read } from "./livebrowser.mjs";

const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const outcome = { refused: [], consoleErrors: [], consoleWarnings: [] };
const item = (key) => `#sidebar [data-inbox="${key}"]`;
const conversation = (id) => `#conversations li[data-id="${id}"]`;

async function press(page, selector) {
  const box = await page.locator(selector).boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
}

// what a click does, or nothing: the element is current at once
async function released(page, selector) {
  await page.mouse.up();
  await page.waitForFunction((found) => document.querySelector(found)?.getAttribute("aria-current") === "true", selector, { timeout: 5000 })
    .catch(() => {});
  return page.evaluate(read);
}

const browser = await launch();
try {
  const page = await newPage(browser, base, outcome, config.email);
  await logIn(page, base, config.email, config.password, config.press);
  // the first inbox is open, its list read and the page live: nothing else is on its way
  await page.waitForFunction(() => document.querySelector("#list-title").textContent.includes(" open") &&
    document.querySelector("#status").dataset.state === "live", null, { timeout: TIMEOUT });
  await new Promise((resolve) => setTimeout(resolve, 1000)); // every subscription started

  // 1. a conversation of the list, while another one leaves it
  const ids = await page.evaluate(() => [...document.querySelectorAll("#conversations li")].map((e) => e.dataset.id));
  const [first, gone] = [ids[0], ids[4]];
  const found = await post(base, config.owner, "query($id: ID!) { node(id: $id) { ... on Conversation { contact { id } } } }", { id: gone });
  await press(page, conversation(first));
  outcome.listPressed = await page.evaluate(read);
  await post(base, config.owner, 'mutation($c: ID!) { closeConversation(contactId: $c, category: "Resolved", summary: "test") { id } }', {
    c: found.node.contact.id,
  });
  await page.waitForFunction(
    ([selector, length]) => !document.querySelector(selector) && document.querySelectorAll("#conversations li").length === length,
    [conversation(gone), ids.length],
    { timeout: TIMEOUT },
  );
  outcome.listReleased = await released(page, conversation(first));
  outcome.listCurrent = await page.evaluate(() => document.querySelector('#conversations [aria-current="true"]')?.dataset.id ?? null);
  outcome.listIds = { first, gone };

  // 2. an inbox of the left panel, while a message changes the panel's counts
  await press(page, item(config.press));
  outcome.pressed = await page.evaluate(read);
  await ingest(base, config.ingest, config.ingest.text, `live-click-${config.ingest.from}`);
  await page.waitForFunction(
    ([key, count]) => document.querySelector(`#sidebar [data-inbox="${key}"]`).dataset.count !== count,
    [config.watch, outcome.pressed.inboxes[config.watch].count],
    { timeout: TIMEOUT },
  );
  outcome.released = await released(page, item(config.press));
  outcome.current = await page.evaluate(() => document.querySelector('#sidebar [aria-current="true"]')?.dataset.inbox ?? null);
} catch (error) {
  outcome.error = String(error.stack ?? error);
} finally {
  await browser.close();
}
console.log(JSON.stringify(outcome));
