// selectors.mjs — how the browser scripts find things on the console's
// pages (console/src): data-testids and hash routes, in one place so a
// change of the pages is one change here (docs/console.md lists them).

export const SEL = {
  nav: (page, name) => page.getByRole("navigation").getByRole("link", { name }),
  error: '[data-testid="error"]',
  confirmOk: '[data-testid="confirm-ok"]',
  confirmDialog: '[data-testid="confirm-dialog"]',
  // Topics
  createTopic: '[data-testid="create-topic"]',
  topicName: '[data-testid="topic-name"]',
  topicPartitions: '[data-testid="topic-partitions"]',
  createSubmit: '[data-testid="create-topic-submit"]',
  topicRows: '[data-testid="topic-row"]',
  topicRow: (name) => `[data-testid="topic-row"][data-name="${name}"]`,
  deleteTopic: '[data-testid="delete-topic"]',
  // Messages
  partition: '[data-testid="partition"]',
  from: '[data-testid="from"]',
  load: '[data-testid="load"]',
  messageRow: '[data-testid="message-row"]',
  follow: '[data-testid="follow"]',
  produceForm: '[data-testid="produce-form"]',
  // Groups
  groupLag: '[data-testid="group-lag"]',
  groupState: '[data-testid="group-state"]',
  resetForm: '[data-testid="reset-form"]',
  resetTopic: '[data-testid="reset-topic"]',
  resetTo: '[data-testid="reset-to"]',
  resetPreview: '[data-testid="reset-preview"]',
  resetPreviewTable: '[data-testid="reset-preview-table"]',
  resetApply: '[data-testid="reset-apply"]',
  deleteGroup: '[data-testid="delete-group"]',
  // Login
  loginUser: '[data-testid="login-username"]',
  loginPassword: '[data-testid="login-password"]',
  loginSubmit: '[data-testid="login-submit"]',
  sessionUser: '[data-testid="session-user"]',
};

// Every page that shows something, by route (hash routing).
export const ROUTES = {
  overview: "#/",
  topics: "#/topics",
  topic: (t) => `#/topics/${encodeURIComponent(t)}`,
  messages: (t) => `#/topics/${encodeURIComponent(t)}/messages`,
  groups: "#/groups",
  group: (g) => `#/groups/${encodeURIComponent(g)}`,
  transactions: "#/transactions",
  acls: "#/acls",
  users: "#/users",
};
