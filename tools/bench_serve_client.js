// bench_serve_client.js — the load generator of tools/bench_serve.sh (Node 18+, no packages).
//
//   node tools/bench_serve_client.js BASE_URL MODEL one PROMPT N_TOKENS
//       one streamed chat request; prints "ttft_s=<s> tok_s=<decode tok/s after the first
//       token> tokens=<completion tokens>".
//   node tools/bench_serve_client.js BASE_URL MODEL turns N_TURNS N_TOKENS
//       one multi-turn conversation; for every turn the request with the conversation so far
//       (the KV cache holds the previous turn), then an unrelated request, then the same turn
//       again (nothing reusable); prints per turn "turn=<i> prompt=<tokens> cached=<tokens>
//       ttft_reuse_s=<s> ttft_cold_s=<s>".
'use strict';
const [base, model, mode, a, b] = process.argv.slice(2);

async function ask(messages, maxTokens) {
  const t0 = performance.now();
  const r = await fetch(base + '/v1/chat/completions', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, messages, max_tokens: maxTokens, temperature: 0, stream: true,
                           stream_options: { include_usage: true } }) });
  if (!r.ok) throw new Error('HTTP ' + r.status + ' ' + await r.text());
  let buf = '', text = '', first = 0, usage = null;
  const dec = new TextDecoder();
  for await (const chunk of r.body) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i); buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const o = JSON.parse(ev.slice(6));
      const c = o.choices && o.choices[0] && o.choices[0].delta && o.choices[0].delta.content;
      if (c) { if (!first) first = performance.now(); text += c; }
      if (o.usage) usage = o.usage;
    }
  }
  const t1 = performance.now();
  return { ttft: ((first || t1) - t0) / 1000, decode: (t1 - (first || t1)) / 1000, text, usage };
}


(async () => {
  if (mode === 'turns') {
    const n = +a, maxTokens = +b, conv = [];
    const topics = ['the creation', 'the flood', 'the tower', 'the law', 'the kings', 'the prophets'];
    for (let i = 0; i < n; i++) {
      conv.push({ role: 'user', content: 'Tell me about ' + topics[i % topics.length] + '.' });
      const warm = await ask(conv, maxTokens);
      await ask([{ role: 'user', content: 'Unrelated ' + i }], 1);
      const cold = await ask(conv, maxTokens);
      console.log(`turn=${i + 1} prompt=${warm.usage.prompt_tokens} ` +
                  `cached=${warm.usage.prompt_tokens_details.cached_tokens} ` +
                  `ttft_reuse_s=${warm.ttft.toFixed(4)} ttft_cold_s=${cold.ttft.toFixed(4)}`);
      conv.push({ role: 'assistant', content: warm.text });
    }
    return;
  }
  if (mode === 'one') {
    const r = await ask([{ role: 'user', content: a }], +b), n = r.usage.completion_tokens;
    console.log(`ttft_s=${r.ttft.toFixed(4)} tok_s=${(n > 1 && r.decode > 0 ? (n - 1) / r.decode : 0).toFixed(2)} ` +
                `tokens=${n}`);
    return;
  }
  throw new Error('usage: BASE_URL MODEL one PROMPT N_TOKENS | turns N_TURNS N_TOKENS');
})().catch((e) => { console.error(e.message || e); process.exit(1); });
