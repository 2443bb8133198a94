/* template.h — chat templates: a Jinja interpreter for the subset that Hugging Face chat
 * templates use, rendering exactly as transformers' apply_chat_template (prefix tpl_).
 *
 * Jinja environment as transformers sets it: trim_blocks, lstrip_blocks, loop controls
 * (break/continue), `{% generation %}` blocks, tojson as json.dumps(ensure_ascii=False), the
 * globals raise_exception() and strftime_now(). A construct outside the subset is an error naming
 * the template line, never a silently different prompt. See docs/template.md. */
#ifndef TEMPLATE_H
#define TEMPLATE_H

#include <stddef.h>
#include <cjson/cJSON.h>

typedef struct tpl_template tpl_template_t;

/* Parse template source. 0, -EINVAL (syntax; err is "template line N: ...") or -ENOMEM. */
int tpl_compile(const char *src, size_t len, tpl_template_t **out, char *err, size_t errlen);

/* Free (NULL-safe). */
void tpl_template_free(tpl_template_t *t);

/* Render with the members of the JSON object vars as variables. *out is malloc'd and
 * NUL-terminated. 0, -EINVAL (render error or raise_exception; err names the line), -E2BIG
 * (output or work over the limits) or -ENOMEM. */
int tpl_render(const tpl_template_t *t, const cJSON *vars, char **out, size_t *len, char *err,
               size_t errlen);

/* Mark the float literals of a parsed JSON text (numbers written with '.', 'e' or 'E') so that
 * they stay floats (1.0 prints as 1.0, not 1). text is the text root was parsed from. */
void tpl_json_mark_floats(cJSON *root, const char *text, size_t len);

/* A model's chat template and the special tokens transformers passes to it. */
typedef struct tpl_chat tpl_chat_t;

/* Load the chat template of a model folder: tokenizer_config.json's chat_template (a string,
 * or a list of {name, template}: "default"), else chat_template.jinja. -ENOENT when the model
 * has none; -EINVAL for a syntax error. */
int tpl_chat_load(const char *model_dir, tpl_chat_t **out, char *err, size_t errlen);

/* A chat template from its text (e.g. GGUF tokenizer.chat_template) with the bos/eos token
 * strings (NULL: undefined). */
int tpl_chat_from_string(const char *src, size_t len, const char *bos, const char *eos,
                         tpl_chat_t **out, char *err, size_t errlen);

/* Render messages (a JSON array) like apply_chat_template(messages, tools=tools,
 * add_generation_prompt=add_gen, **extra): tools may be NULL (None), extra a JSON object of
 * further variables or NULL. Errors as tpl_render. */
int tpl_chat_render(const tpl_chat_t *c, const cJSON *messages, const cJSON *tools, int add_gen,
                    const cJSON *extra, char **out, size_t *len, char *err, size_t errlen);

/* Free (NULL-safe). */
void tpl_chat_free(tpl_chat_t *c);

/* `flashgen template` subcommand: argv[0] is "template". Returns a process exit code. */
int tpl_cli_main(int argc, char **argv);

#endif
