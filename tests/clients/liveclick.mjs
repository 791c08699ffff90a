// A click that spans a live update still opens the inbox (tests/test_live_page.py). On the live
// page (graph/page.py) in headless Chromium, a user presses the mouse on an inbox of the left
// panel; before they release it, a message from a new number changes the panel's counts (its
// inboxSidebarChanged event redraws it). Prints what the page showed after the release as JSON.
// Usage: node liveclick.mjs <http://127.0.0.1:PORT> <config JSON>
//   config: { email, password, press, watch, ingest: { token, channelId, from, text } }
//   press: the inbox pressed; watch: an inbox whose count the message changes
import { TIMEOUT, ingest, launch, logIn, newPage, read } from "./livebrowser.mjs";

const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const outcome = { refused: [], consoleErrors: [], consoleWarnings: [] };
const item = (key) => `#sidebar [data-inbox="${key}"]`;

const browser = await launch();
try {
  const page = await newPage(browser, base, outcome, config.email);
  await logIn(page, base, config.email, config.password, config.press);
  // the first inbox is open, its list read and the page live: nothing else is on its way
  await page.waitForFunction(() => document.querySelector("#list-title").textContent.includes(" open") &&
    document.querySelector("#status").dataset.state === "live", null, { timeout: TIMEOUT });
  await new Promise((resolve) => setTimeout(resolve, 1000)); // every subscription started
  const box = await page.locator(item(config.press)).boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  outcome.pressed = await page.evaluate(read);
  await ingest(base, config.ingest, config.ingest.text, `live-click-${config.ingest.from}`);
  await page.waitForFunction(
    ([key, count]) => document.querySelector(`#sidebar [data-inbox="${key}"]`).dataset.count !== count,
    [config.watch, outcome.pressed.inboxes[config.watch].count],
    { timeout: TIMEOUT },
  );
  await page.mouse.up();
  // what a click does (select: the inbox is current at once), or nothing
  await page.waitForFunction((key) => document.querySelector(key)?.getAttribute("aria-current") === "true", item(config.press), { timeout: 5000 })
    .catch(() => {});
  outcome.released = await page.evaluate(read);
  outcome.current = await page.evaluate(() => document.querySelector('#sidebar [aria-current="true"]')?.dataset.inbox ?? null);
} catch (error) {
  outcome.error = String(error.stack ?? error);
} finally {
  await browser.close();
}
console.log(JSON.stringify(outcome));
