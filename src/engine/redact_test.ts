import assert from "node:assert/strict";
import { Redactor } from "./redact.ts";

Deno.test("a diff that replaces a token hides the old value too", () => {
  const r = new Redactor();
  r.add("glc_new_token_1234");
  const e = r.scrub({
    diff: [{
      target: "/etc/default/alloy",
      before: 'URL="https://x"\nGRAFANA_CLOUD_API_KEY="glc_old_token_9876"\n',
      after: 'URL="https://x"\nGRAFANA_CLOUD_API_KEY="glc_new_token_1234"\n',
    }],
  });
  assert.deepEqual(e.diff[0], {
    target: "/etc/default/alloy",
    before: 'URL="https://x"\nGRAFANA_CLOUD_API_KEY="<redacted>\n',
    after: 'URL="https://x"\nGRAFANA_CLOUD_API_KEY="<redacted>\n',
  });
});

Deno.test("secrets are scrubbed anywhere, with their base64 form", () => {
  const r = new Redactor();
  r.add("s3cret-value");
  const b64 = btoa("s3cret-value").replace(/=+$/, "");
  assert.deepEqual(r.scrub({ msg: `x s3cret-value y ${b64}`, n: 1 }), {
    msg: "x <redacted> y <redacted>",
    n: 1,
  });
  assert.equal(r.scrub({ before: "a", after: "b" }).before, "a");
});
