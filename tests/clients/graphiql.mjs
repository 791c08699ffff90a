// Load GraphiQL from the served app in headless Chromium with every other host cut off, run a
// query in the IDE, and print what its result pane shows (tests/api/test_graphiql_offline.py).
// Usage: node graphiql.mjs <http://127.0.0.1:PORT/graphql> <query>
import { chromium } from "playwright-core";

const [url, query] = process.argv.slice(2);
const origin = new URL(url).origin;
const outcome = { requests: [], refused: [], consoleErrors: [] };

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = await browser.newPage();
  // the network: the served app only
  await page.route("**/*", (route) => {
    const requested = route.request().url();
    if (requested.startsWith(origin) || requested.startsWith("data:")) {
      outcome.requests.push(requested.slice(origin.length));
      return route.continue();
    }
    outcome.refused.push(requested);
    return route.abort("internetdisconnected");
  });
  page.on("console", (message) => {
    if (message.type() === "error") outcome.consoleErrors.push(message.text());
  });
  await page.goto(url, { waitUntil: "load" });
  // GraphiQL replaces "Loading..." with its editors once its scripts ran
  await page.waitForSelector(".graphiql-query-editor .CodeMirror", { timeout: 30000 });
  await page.evaluate((text) => {
    document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.setValue(text);
  }, query);
  await page.click(".graphiql-execute-button");
  await page.waitForFunction(
    () => {
      const result = document.querySelector(".result-window .CodeMirror");
      return result && result.CodeMirror.getValue().trim().startsWith("{");
    },
    null,
    { timeout: 30000 },
  );
  outcome.result = await page.evaluate(() =>
    document.querySelector(".result-window .CodeMirror").CodeMirror.getValue(),
  );
} catch (error) {
  outcome.error = String(error);
} finally {
  await browser.close();
}
console.log(JSON.stringify(outcome));
