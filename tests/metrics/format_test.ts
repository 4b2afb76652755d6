/** The printed table's number format (C printf %.3g) and the CLI's class-list option. */
import assert from "node:assert/strict";
import { fmtG } from "../../lib/metrics/validate.ts";
import { parseClasses } from "../../cli/val.ts";
import { UserError } from "../../lib/util/errors.ts";

Deno.test("fmtG matches printf('%.3g')", () => {
  const cases: [number, string][] = [
    [0.5697, "0.57"],
    [0.4259, "0.426"],
    [0.0998, "0.0998"],
    [0.000703, "0.000703"],
    [0.00004, "4e-05"],
    [1, "1"],
    [0, "0"],
    [0.995, "0.995"],
    [0.99951, "1"],
    [1234, "1.23e+03"],
  ];
  for (const [v, s] of cases) assert.equal(fmtG(v, 3), s, String(v));
});

Deno.test("parseClasses: comma list of class ids; empty → null; junk → UserError", () => {
  assert.deepEqual(parseClasses("0,2, 5"), [0, 2, 5]);
  assert.equal(parseClasses(""), null);
  assert.equal(parseClasses(undefined), null);
  assert.throws(() => parseClasses("a,1"), UserError);
});
