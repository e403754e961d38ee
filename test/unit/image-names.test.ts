// Image file names: what the superseded-images plugin takes for an image, and for a generation-numbered one, is what
// imageFileName and uniqueImageName make.
import * as assert from 'node:assert/strict';
import { imageFileName, isImageFileName } from '../../src/pipeline/process-info';
import { isUniqueImageName, uniqueImageName } from '../../src/plugins/unique-filenames';

describe('image file names', () => {
  const plain = imageFileName('my prog', '4049c22c-27440-660de03a58f31');

  it('an image name is recognised, a numbered one only once numbered', () => {
    assert.equal(plain, 'ckpt_my_prog_4049c22c-27440-660de03a58f31.dmtcp');
    assert.ok(isImageFileName(plain));
    assert.ok(!isUniqueImageName(plain));
    for (const generation of [1, 99999, 123456]) {
      const numbered = uniqueImageName(plain, generation);
      assert.ok(isImageFileName(numbered), numbered);
      assert.ok(isUniqueImageName(numbered), numbered);
    }
  });

  it('other files are not images', () => {
    for (const name of ['dmtcp_restart_script.sh', 'ckpt_x.dmtcp.tmp-123-abc', 'ckpt_x.dmtcp-old', 'pagewriter-gen1.dmtcp']) {
      assert.ok(!isImageFileName(name), name);
    }
  });
});
