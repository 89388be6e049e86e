"""Prints the chat template of a Qwen2.5-Coder GGUF, changed so that tool calls are JSON in a
```json fence instead of <tool_call> tags (the Coder models write fences; llama.cpp's server
learns the format from the template and then returns `tool_calls`). Also mends the doubled
braces of the packaged 1.5B template's tool instructions.

Usage: python3 fenced_template.py MODEL.gguf > template.jinja   (needs the `gguf` package)
"""
import sys

from gguf import GGUFReader

field = GGUFReader(sys.argv[1]).fields["tokenizer.chat_template"]
template = bytes(field.parts[field.data[0]]).decode("utf-8")

edits = [
    # The instructions: where and how to write a call.
    ("within <tool_call></tool_call> XML tags:\\n<tool_call>\\n",
     "in a fenced json block:\\n```json\\n"),
    ("<args-json-object>}}\\n</tool_call>", "<args-json-object>}\\n```"),
    ("{{\\\"name\\\": <function-name>", "{\\\"name\\\": <function-name>"),
    # Earlier calls, as the template renders them back to the model.
    ("'\\n<tool_call>\\n{\"name\": \"'", "'\\n```json\\n{\"name\": \"'"),
    ("'}\\n</tool_call>'", "'}\\n```'"),
]
for old, new in edits:
    if old not in template:
        sys.exit(f"the template has no {old!r}: not the Qwen2.5 template this script knows")
    template = template.replace(old, new)
if "tool_call>" in template.replace("tool_response>", ""):
    sys.exit("a <tool_call> tag is left in the template")
sys.stdout.write(template)
