// zxcvbn-ts with the common and English dictionaries (the same word lists the server's Rust
// zxcvbn port uses). Loaded on first use, in its own chunk: the dictionaries are large and only
// the register and change-password pages need them.

import type { Estimate, Score } from './policy';

export type Estimator = (password: string, userInputs: string[]) => Estimate;

let loading: Promise<Estimator> | null = null;

export function loadEstimator(): Promise<Estimator> {
  loading ??= (async () => {
    const [{ ZxcvbnFactory }, common, en] = await Promise.all([
      import('@zxcvbn-ts/core'),
      import('@zxcvbn-ts/language-common'),
      import('@zxcvbn-ts/language-en'),
    ]);
    const zxcvbn = new ZxcvbnFactory({
      dictionary: { ...common.dictionary, ...en.dictionary },
      graphs: common.adjacencyGraphs,
      translations: en.translations,
    });
    return (password: string, userInputs: string[]): Estimate => {
      // zxcvbn's cost grows with length; the server refuses more than 256 characters anyway.
      const result = zxcvbn.check(password.slice(0, 256), userInputs);
      return {
        score: result.score as Score,
        warning: result.feedback.warning,
        suggestions: result.feedback.suggestions,
      };
    };
  })();
  loading.catch(() => {
    loading = null;
  });
  return loading;
}
