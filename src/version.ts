/** adit's version, as `adit --version` prints it (package.json's; test/unit/cli/lazy-start.test.ts holds them equal). */
export const version = '0.1.0'
