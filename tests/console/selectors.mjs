// selectors.mjs — how the browser scripts find things on the console's
// pages (console/src): data-testids and hash routes, in one place so a
// change of the pages is one change here (docs/console.md lists them).

export const SEL = {
  error: '[data-testid="error"]',
  confirmOk: '[data-testid="confirm-ok"]',
  confirmDialog: '[data-testid="confirm-dialog"]',
  ovTopics: '[data-testid="ov-topics"]',
  // Topics
  createTopic: '[data-testid="topic-create"]',
  topicName: '[data-testid="create-name"]',
  topicPartitions: '[data-testid="create-partitions"]',
  createSubmit: '[data-testid="create-submit"]',
  topicRows: '[data-testid="topic-row"]',
  topicRow: (name) => `[data-testid="topic-row"][data-topic="${name}"]`,
  deleteTopic: '[data-testid="topic-delete"]',
  addPartitions: '[data-testid="topic-add-partitions"]',
  configEdit: '[data-testid="config-edit"]',
  partitionsTable: '[data-testid="partitions-table"]',
  // Messages
  partition: '[data-testid="msg-partition"]',
  from: '[data-testid="msg-from"]',
  load: '[data-testid="msg-load"]',
  messageRow: '[data-testid="message-row"]',
  messageExpand: '[data-testid="message-expand"]',
  messageDetails: '[data-testid="message-details"]',
  follow: '[data-testid="msg-follow"]',
  produceForm: '[data-testid="produce-form"]',
  produceKey: '[data-testid="produce-key"]',
  produceValue: '[data-testid="produce-value"]',
  produceHeaders: '[data-testid="produce-headers"]',
  produceCompression: '[data-testid="produce-compression"]',
  produceSubmit: '[data-testid="produce-submit"]',
  produceResult: '[data-testid="produce-result"]',
  download: '[data-testid="msg-download"]',
  searchQ: '[data-testid="search-q"]',
  searchFrom: '[data-testid="search-from"]',
  searchSubmit: '[data-testid="search-submit"]',
  searchResults: '[data-testid="search-results"]',
  // Groups
  groupLag: '[data-testid="group-total-lag"]',
  groupState: '[data-testid="group-state"]',
  resetForm: '[data-testid="reset-form"]',
  resetTopic: '[data-testid="reset-topic"]',
  resetTo: '[data-testid="reset-to"]',
  resetPreview: '[data-testid="reset-preview"]',
  resetPreviewTable: '[data-testid="reset-preview-result"]',
  resetApply: '[data-testid="reset-apply"]',
  resetRow: '[data-testid="reset-row"]',
  resetApplied: '[data-testid="reset-applied"]',
  deleteGroup: '[data-testid="group-delete"]',
  transactionRow: '[data-testid="transaction-row"]',
  // Login
  loginUser: '[data-testid="login-user"]',
  loginPassword: '[data-testid="login-password"]',
  loginSubmit: '[data-testid="login-submit"]',
  sessionUser: '[data-testid="principal"]',
  readOnlyTag: '[data-testid="read-only"]',
};

// Every page that shows something, by route (hash routing).
export const ROUTES = {
  overview: "#/overview",
  topics: "#/topics",
  topic: (t) => `#/topics/${encodeURIComponent(t)}`,
  messages: (t) => `#/topics/${encodeURIComponent(t)}/messages`,
  groups: "#/groups",
  group: (g) => `#/groups/${encodeURIComponent(g)}`,
  transactions: "#/transactions",
  security: "#/security",
};
