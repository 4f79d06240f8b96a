// e2e.mjs — the web console end to end in headless Chromium (issue 23's
// proof). Run by tests/compat/test_console_browser.py, which starts the
// brokers and passes them in the environment:
//
//   node e2e.mjs main      ND_URL (http://HOST:PORT of --http), ND_BOOTSTRAP
//                          (its PLAINTEXT Kafka listener): create a topic in
//                          the UI, produce with a Kafka client, see the
//                          records, follow live, a consumer group's lag
//                          falls to zero, reset its offsets with the
//                          preview, search, produce from the page,
//                          download, an open transaction, delete the
//                          topic; every page's screenshot and axe-core
//                          check
//   node e2e.mjs login     ND_URL, ND_BOOTSTRAP (SASL_PLAINTEXT), ND_USER,
//                          ND_PASSWORD: the login page, a refused password,
//                          a SCRAM login, the users page
//   node e2e.mjs readonly  ND_URL, ND_BOOTSTRAP (a --http-read-only broker):
//                          no mutating control on any page
//
// Prints "ok STEP" per step; on a failure, "FAIL STEP: why", a screenshot
// failure-STEP.png, and exits 1. axe-core's serious or critical
// violations are gathered over every page and fail the run at the end,
// all listed.
//
// Selectors are the pages' accessible names and data-testids (console/src,
// listed in docs/console.md): they are all in selectors.mjs.
import { api, axe, check, currentStep, kafka, kafkaBackground, launch, shot, step, until } from "./lib.mjs";
import { readFileSync } from "node:fs";
import { ROUTES, SEL } from "./selectors.mjs";

const URL = process.env.ND_URL;
const BOOTSTRAP = process.env.ND_BOOTSTRAP;
const TOPIC = "e2e-orders";
const GROUP = "e2e-readers";

const violations = [];

async function visit(page, route, ready) {
  await page.goto(URL + "/" + route);
  await page.waitForSelector(ready, { timeout: 30000 });
}

// The screenshot and the accessibility check of the page as it is now.
async function record(page, name) {
  await shot(page, name);
  await axe(page, name, violations);
}

async function textOf(page, sel) {
  return (await page.locator(sel).first().textContent()) || "";
}

async function mainScenario(page) {
  await step("overview", async () => {
    await visit(page, ROUTES.overview, '[data-testid="ov-version"]');
    const ov = (await api(URL, "GET", "/api/overview")).json;
    await until(async () => (await page.locator("main").textContent()).includes(ov.version), "the overview shows the version " + ov.version);
  });

  await step("create a topic in the UI", async () => {
    await visit(page, ROUTES.topics, SEL.createTopic);
    await page.click(SEL.createTopic);
    await page.fill(SEL.topicName, TOPIC);
    await page.fill(SEL.topicPartitions, "2");
    await record(page, "topics-create");
    await page.click(SEL.createSubmit);
    // The dialog closes on success (the page may go to the new topic's).
    await page.waitForSelector(SEL.createSubmit, { state: "detached" });
    await visit(page, ROUTES.topics, SEL.topicRow(TOPIC));
    const t = await api(URL, "GET", `/api/topics/${TOPIC}`);
    check(t.status === 200 && t.json.partitions.length === 2, `the API does not see ${TOPIC} with 2 partitions: ${t.text}`);
    await record(page, "topics");
  });

  let produced;
  await step("produce with a Kafka client and see the records", async () => {
    produced = kafka("produce", BOOTSTRAP, TOPIC, "6", "--partition", "0").map((l) => JSON.parse(l));
    check(produced.length === 6, "kafka_client produced " + produced.length);
    await visit(page, ROUTES.messages(TOPIC), SEL.partition);
    await page.selectOption(SEL.partition, "0");
    await page.selectOption(SEL.from, "beginning");
    await page.click(SEL.load);
    await until(async () => (await page.locator(SEL.messageRow).count()) === 6, "6 records listed");
    const body = await page.locator("main").textContent();
    for (const r of produced) check(body.includes(r.key), `record ${r.key} is not shown`);
    check(body.includes("hello 0"), "the JSON value of record 0 is not shown");
    check(await page.locator(SEL.produceForm).isVisible(), "no produce form on a writable console");
    // key-2's value is 00 ff fe 02: not UTF-8, so hex.
    check(/00\s?ff\s?fe\s?02/i.test(body), "the binary value of record 2 is not shown in hex");
    check((await page.locator(SEL.messageRow).first().textContent()).includes("gzip"), "record 0's compression (gzip) is not shown");
    // A record's details: its JSON value pretty-printed, its header.
    await page.locator(SEL.messageExpand).first().click();
    const details = await textOf(page, SEL.messageDetails);
    check(details.includes('{\n  "n": 0,\n  "text": "hello 0"\n}'), "record 0's value is not pretty-printed JSON: " + details);
    check(details.includes("source") && details.includes("kafka_client"), "record 0's header is not shown: " + details);
    await record(page, "messages");
  });

  await step("follow live", async () => {
    await page.check(SEL.follow);
    kafka("produce", BOOTSTRAP, TOPIC, "1", "--partition", "0", "--start", "6");
    await until(async () => (await page.locator("main").textContent()).includes("key-6"), "the record produced while following appears");
    await record(page, "messages-follow");
    await page.uncheck(SEL.follow);
  });

  await step("topic page", async () => {
    await visit(page, ROUTES.topic(TOPIC), SEL.deleteTopic);
    for (const sel of [SEL.addPartitions, SEL.configEdit])
      check(await page.locator(sel).first().isVisible(), `no ${sel} on a writable console`);
    await record(page, "topic");
  });

  let consumer;
  await step("a consumer group's lag falls to zero", async () => {
    // The group first exists with offsets at 0 (lag 7), so the page shows
    // lag before the consumer takes it down.
    kafka("commit", BOOTSTRAP, TOPIC, GROUP, "0");
    await visit(page, ROUTES.group(GROUP), SEL.groupLag);
    await until(async () => (await textOf(page, SEL.groupLag)).trim() === "7", "the group page shows lag 7");
    consumer = kafkaBackground("consume", BOOTSTRAP, TOPIC, GROUP);
    await until(async () => (await textOf(page, SEL.groupLag)).trim() === "0", "the group page shows lag 0", 60000);
    await until(async () => (await textOf(page, SEL.groupState)).includes("Stable"), "the group is Stable");
    await record(page, "group");
    await visit(page, ROUTES.groups, `[data-testid="group-row"][data-group="${GROUP}"]`);
    await record(page, "groups");
  });

  await step("reset the group's offsets with a preview", async () => {
    await consumer.stop();
    await visit(page, ROUTES.group(GROUP), SEL.groupState);
    await until(async () => (await textOf(page, SEL.groupState)).includes("Empty"), "the group is Empty once its consumer left", 60000);
    await page.selectOption(SEL.resetTopic, TOPIC);
    await page.selectOption(SEL.resetTo, "earliest");
    await page.click(SEL.resetPreview);
    await page.waitForSelector(SEL.resetPreviewTable);
    // Partition 0: committed 7, back to 0 (partition 1 is empty: 0 → 0).
    const rows = await page.locator(SEL.resetRow).allTextContents();
    check(rows.some((r) => /^\s*e2e-orders\s*0\s*7\s*0\s*$/.test(r)), "the preview does not show partition 0 going 7 → 0: " + JSON.stringify(rows));
    // A preview changes nothing.
    const g = (await api(URL, "GET", `/api/groups/${GROUP}`)).json;
    check(g.lag === 0, "the preview changed the offsets: lag " + g.lag);
    await record(page, "group-reset-preview");
    await page.click(SEL.resetApply);
    await page.click(SEL.confirmOk);
    await page.waitForSelector(SEL.resetApplied);
    await until(async () => (await textOf(page, SEL.groupLag)).trim() === "7", "the lag is back to 7 after the reset");
    await record(page, "group-reset");
  });

  await step("search, produce a test message, download", async () => {
    await visit(page, ROUTES.messages(TOPIC), SEL.messageRow);
    await page.fill(SEL.searchQ, "hello 4");
    await page.selectOption(SEL.searchFrom, "beginning");
    await page.click(SEL.searchSubmit);
    const found = page.locator(`${SEL.searchResults} ${SEL.messageRow}`);
    await until(async () => (await found.count()) === 1, "one record matches 'hello 4'");
    check((await found.first().textContent()).includes("key-4"), "the match is not key-4");
    await record(page, "messages-search");
    // A record written by the page, read back by a Kafka client.
    await page.fill(SEL.produceKey, "from-the-ui");
    await page.fill(SEL.produceValue, '{"made": "in the browser"}');
    await page.fill(SEL.produceHeaders, "h: v");
    await page.selectOption(SEL.produceCompression, "gzip");
    await page.click(SEL.produceSubmit);
    await until(async () => (await textOf(page, SEL.produceResult)).includes("offset 7"), "the page says where the record went (partition 0, offset 7)");
    const read = kafka("read", BOOTSTRAP, TOPIC, "0").map((l) => JSON.parse(l));
    const last = read[read.length - 1];
    check(read.length === 8 && last.offset === 7 && last.key === "from-the-ui" && last.value === '{"made": "in the browser"}' && JSON.stringify(last.headers) === '[["h","v"]]', "a Kafka client reads back: " + JSON.stringify(last));
    // The download: the partition's records as JSON lines.
    await page.selectOption(SEL.from, "beginning");
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click(SEL.download)]);
    const lines = readFileSync(await dl.path(), "utf8").split("\n").filter((l) => l).map((l) => JSON.parse(l));
    check(lines.length === 8 && lines.every((m, i) => m.offset === i), "the download does not hold offsets 0-7: " + lines.map((m) => m.offset));
    check(lines[7].key.text === "from-the-ui" && lines[2].value.encoding === "hex", "the download's records are not the partition's: " + JSON.stringify([lines[2], lines[7]]));
  });

  await step("an open transaction", async () => {
    const txn = kafkaBackground("transact", BOOTSTRAP, TOPIC, "e2e-txn");
    await until(() => txn.lines.includes("open"), "the transactional producer has a transaction open");
    await visit(page, ROUTES.transactions, SEL.transactionRow);
    const row = await textOf(page, SEL.transactionRow);
    check(row.includes("e2e-txn") && row.includes("Ongoing") && row.includes(TOPIC + "-0"), "the transaction's row does not name it, Ongoing and its partition: " + row);
    await record(page, "transactions");
    await txn.stop();
  });

  await step("other pages", async () => {
    await visit(page, ROUTES.security, "main h1");
    await record(page, "security");
  });

  await step("overview after the traffic", async () => {
    // Shot now, so its charts show the records produced and fetched.
    await visit(page, ROUTES.overview, SEL.ovTopics);
    await until(async () => (await textOf(page, SEL.ovTopics)).trim() !== "0", "the overview counts the topic");
    await record(page, "overview");
  });

  await step("delete the topic", async () => {
    await visit(page, ROUTES.topic(TOPIC), SEL.deleteTopic);
    await page.click(SEL.deleteTopic);
    await page.waitForSelector(SEL.confirmDialog);
    await record(page, "topic-delete-confirm");
    await page.click(SEL.confirmOk);
    await visit(page, ROUTES.topics, SEL.createTopic);
    await until(async () => (await page.locator(SEL.topicRow(TOPIC)).count()) === 0, "the deleted topic is gone from the list");
    const t = await api(URL, "GET", `/api/topics/${TOPIC}`);
    check(t.status === 404, `the API still has ${TOPIC}: ${t.status}`);
  });
}

async function loginScenario(page) {
  await step("the login page", async () => {
    await page.goto(URL + "/");
    await page.waitForSelector(SEL.loginUser);
    await record(page, "login");
  });
  await step("a wrong password is refused", async () => {
    await page.fill(SEL.loginUser, process.env.ND_USER);
    await page.fill(SEL.loginPassword, "not-" + process.env.ND_PASSWORD);
    await page.click(SEL.loginSubmit);
    await page.waitForSelector(SEL.error);
    const e = await textOf(page, SEL.error);
    check(e.includes("SASL_AUTHENTICATION_FAILED"), "the error does not name SASL_AUTHENTICATION_FAILED: " + e);
    await record(page, "login-refused");
  });
  await step("a SCRAM login", async () => {
    await page.fill(SEL.loginPassword, process.env.ND_PASSWORD);
    await page.click(SEL.loginSubmit);
    await page.waitForSelector(SEL.sessionUser);
    check((await textOf(page, SEL.sessionUser)).includes(process.env.ND_USER), "the session does not name the user");
    const s = await (await page.request.get(URL + "/api/session")).json();
    check(s.user === process.env.ND_USER, "the API's session is not the user's: " + JSON.stringify(s));
  });
  await step("users page", async () => {
    await visit(page, ROUTES.security, `[data-testid="user-row"][data-user="${process.env.ND_USER}"]`);
  });
  // ACLs: the super user grants ND_USER2 DESCRIBE on one of two topics in
  // the UI; logged in as ND_USER2, the console shows that topic only and
  // refuses a create with Kafka's authorization error.
  const sasl = `${process.env.ND_USER}:${process.env.ND_PASSWORD}:SCRAM-SHA-512`;
  await step("an ACL added in the UI", async () => {
    kafka("--sasl", sasl, "produce", BOOTSTRAP, "acl-granted", "1");
    kafka("--sasl", sasl, "produce", BOOTSTRAP, "acl-hidden", "1");
    await page.fill(SEL.aclPrincipal, "User:" + process.env.ND_USER2);
    await page.selectOption(SEL.aclOperation, "DESCRIBE");
    await page.selectOption(SEL.aclResourceType, "TOPIC");
    await page.fill(SEL.aclResourceName, "acl-granted");
    await page.click(SEL.aclAdd);
    await until(async () => (await page.locator(SEL.aclRow).count()) === 1, "the new ACL is listed");
    const row = await textOf(page, SEL.aclRow);
    check(row.includes("User:" + process.env.ND_USER2) && row.includes("DESCRIBE") && row.includes("acl-granted"), "the ACL row is not the one added: " + row);
    await record(page, "security-users");
  });
  await step("another user sees what the ACLs allow", async () => {
    await page.click(SEL.logout);
    await page.waitForSelector(SEL.loginUser);
    await page.fill(SEL.loginUser, process.env.ND_USER2);
    await page.fill(SEL.loginPassword, process.env.ND_PASSWORD2);
    await page.click(SEL.loginSubmit);
    await page.waitForSelector(SEL.sessionUser);
    await visit(page, ROUTES.topics, SEL.topicRow("acl-granted"));
    check((await page.locator(SEL.topicRow("acl-hidden")).count()) === 0, "a topic the user may not describe is listed");
    await page.click(SEL.createTopic);
    await page.fill(SEL.topicName, "not-allowed");
    await page.click(SEL.createSubmit);
    await page.waitForSelector(`${SEL.createDialog} ${SEL.error}`);
    const e = await textOf(page, `${SEL.createDialog} ${SEL.error}`);
    check(e.includes("AUTHORIZATION_FAILED"), "the refused create does not show Kafka's authorization error: " + e);
    await record(page, "acl-refused");
  });
}

async function readonlyScenario(page) {
  await step("read-only: the API refuses a change", async () => {
    // The topic and the group are made by a Kafka client: the console
    // cannot.
    kafka("produce", BOOTSTRAP, TOPIC, "3", "--partition", "0");
    kafka("commit", BOOTSTRAP, TOPIC, GROUP, "1");
    const r = await api(URL, "POST", "/api/topics", { name: "refused" });
    check(r.status === 403 && r.json.error.code === "READ_ONLY", "a read-only console created a topic: " + r.text);
  });
  const absent = async (sel, where) => check((await page.locator(sel).count()) === 0, `${sel} is shown on ${where} in read-only mode`);
  await step("read-only: no mutating control", async () => {
    await visit(page, ROUTES.topics, SEL.topicRow(TOPIC));
    await absent(SEL.createTopic, "topics");
    check(await page.locator(SEL.readOnlyTag).isVisible(), "the header does not say read-only");
    // Each page is looked at once its data is shown (the controls come
    // with it on a writable console: the main scenario uses them).
    await visit(page, ROUTES.topic(TOPIC), SEL.partitionsTable);
    await absent(SEL.deleteTopic, "the topic page");
    await absent(SEL.addPartitions, "the topic page");
    await absent(SEL.configEdit, "the topic page");
    await visit(page, ROUTES.messages(TOPIC), SEL.messageRow);
    await absent(SEL.produceForm, "messages");
    await visit(page, ROUTES.group(GROUP), SEL.groupLag);
    await absent(SEL.resetForm, "the group page");
    await absent(SEL.deleteGroup, "the group page");
    await record(page, "readonly-group");
  });
}

const scenarios = { main: mainScenario, login: loginScenario, readonly: readonlyScenario };
const which = process.argv[2];
if (!scenarios[which]) {
  console.error("usage: node e2e.mjs main|login|readonly");
  process.exit(2);
}
const browser = await launch();
let failed = false;
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
try {
  await step("axe-core finds a known violation", async () => {
    // So a check that silently stopped running cannot pass every page.
    const found = [];
    await page.setContent('<html lang="en"><title>t</title><main><button></button></main></html>');
    await axe(page, "self-check", found);
    check(found.some((v) => v.includes("button-name")), "axe-core did not report an unnamed button: " + JSON.stringify(found));
  });
  await scenarios[which](page);
} catch (e) {
  failed = true;
  console.log(`FAIL ${currentStep()}: ${e.message}`);
  try {
    await shot(page, "failure-" + which + "-" + currentStep().replace(/\W+/g, "-"));
    console.log("page text: " + ((await page.locator("body").textContent()) || "").slice(0, 2000));
  } catch {
    /* the page is gone */
  }
}
await browser.close();
if (pageErrors.length) {
  failed = true;
  console.log("FAIL uncaught errors in the page:\n  " + pageErrors.join("\n  "));
}
if (violations.length) {
  failed = true;
  console.log(`FAIL axe-core: ${violations.length} serious or critical violations:\n  ` + violations.join("\n  "));
}
process.exit(failed ? 1 : 0);
