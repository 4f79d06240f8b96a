// tabs.mjs — the browser load of bench/broker/console.py: one headless
// Chromium with three tabs following topics live (the Messages page with
// Follow live on, which polls every second) and one on a consumer group's
// page (which refreshes itself), until its standard input closes.
//
//   node tabs.mjs URL GROUP TOPIC...
//
// Prints "ready" once every tab follows; at the end, "polls N" (the API
// calls the tabs made, counted from the browser's requests) and exits 0.
import { launch } from "./lib.mjs";
import { ROUTES, SEL } from "./selectors.mjs";

const [url, group, ...topics] = process.argv.slice(2);
const browser = await launch();
const ctx = await browser.newContext();
let polls = 0;
ctx.on("request", (r) => r.url().includes("/api/") && polls++);
for (const t of topics) {
  const page = await ctx.newPage();
  await page.goto(url + "/" + ROUTES.messages(t));
  await page.waitForSelector(SEL.follow, { timeout: 30000 });
  await page.selectOption(SEL.from, "end");
  await page.click(SEL.load);
  await page.check(SEL.follow);
}
const g = await ctx.newPage();
await g.goto(url + "/" + ROUTES.group(group));
await g.waitForSelector(SEL.groupLag, { timeout: 30000 });
console.log("ready");
process.stdin.resume();
await new Promise((r) => process.stdin.on("end", r));
console.log("polls " + polls);
await browser.close();
