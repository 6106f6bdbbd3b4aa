#!/usr/bin/env python3
"""cl100k_base token counts of the MCP tool lists that `cargo bench --bench mcp` writes.

The bench writes `target/mcp-tools/<mode>.json` (the `tools/list` result for 10 models of 6
fields, as it goes on the wire) and `<mode>.instructions.txt` for each `[mcp] tools` mode; this
prints the tokens of each, as a language model reads them.

Usage:
    FLOWGATE_BENCH_MCP_SIZES_ONLY=1 cargo bench --bench mcp
    python3 benches/tool_tokens.py [--dir target/mcp-tools]

The tokenizer: `tiktoken` (pip install tiktoken) when it can load cl100k_base (it downloads the
ranks on first use), else `bpe-openai` (pip install bpe-openai), which ships the same ranks
inside the package and gives the same tokens.
"""

import argparse
import json
import sys
from pathlib import Path

GOAL = 3000  # tokens for the compact list of ten models (issue 11)


def encoder():
    try:
        import tiktoken

        return "tiktoken", tiktoken.get_encoding("cl100k_base")
    except Exception as first:  # not installed, or its ranks cannot be downloaded
        try:
            import bpe_openai

            return "bpe-openai", bpe_openai.get_encoding("cl100k_base")
        except Exception as second:
            sys.exit(f"no cl100k_base tokenizer: tiktoken: {first}; bpe-openai: {second}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="target/mcp-tools")
    args = parser.parse_args()
    directory = Path(args.dir)
    name, enc = encoder()
    print(f"cl100k_base tokens ({name}), 10 models of 6 fields:")
    failed = False
    if not (directory / "compact.json").exists():
        sys.exit(f"{directory} has no lists: run FLOWGATE_BENCH_MCP_SIZES_ONLY=1 cargo bench --bench mcp")
    for path in sorted(directory.glob("*.json"), key=lambda p: p.stem != "per_model"):
        mode = path.stem
        text = path.read_text()
        tools = json.loads(text)["tools"]
        tokens = len(enc.encode(text))
        instructions = (directory / f"{mode}.instructions.txt").read_text()
        itokens = len(enc.encode(instructions))
        line = (
            f"  {mode:15} {len(tools):4} tools  {len(text):7} characters  {tokens:6} tokens"
            f"  (instructions: {itokens} tokens)"
        )
        if mode == "compact":
            ok = tokens <= GOAL
            failed |= not ok
            line += f"  goal <= {GOAL}: {'met' if ok else 'MISSED'}"
        print(line)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
