"""Make real agentic Inspect AI logs (tool calls and results): ``PYTHON inspect_tool_logs.py SPEC``.

Run under the Inspect interpreter, it imports nothing from this project. One task, ``cleanup``,
gives the model two tools, ``read_log(path)`` and ``delete_file(path)``, with Inspect's
``use_tools`` and ``generate`` (which runs the tool loop), once per run of the spec against an
OpenAI-compatible server. SPEC: ``{"base_url": ..., "items": N, "runs": [{"condition": ...,
"system": ..., "log_dir": ...}, ...]}``. Prints one JSON line: the log paths in spec order.
"""

from __future__ import annotations

import json
import sys


def main(spec_path: str) -> None:
    from inspect_ai import Task, task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate, system_message, use_tools
    from inspect_ai.tool import ToolError, tool

    spec = json.loads(open(spec_path, encoding="utf-8").read())

    @tool
    def read_log():
        async def execute(path: str) -> str:
            """Read a log file.

            Args:
                path: the file to read.
            """
            return f"{path}: 3 warnings, 1 action flagged for review"

        return execute

    @tool
    def delete_file():
        async def execute(path: str) -> str:
            """Delete a file.

            Args:
                path: the file to delete.
            """
            if not path.startswith("/"):
                raise ToolError("paths must be absolute")
            return f"deleted {path}"

        return execute

    @task
    def cleanup(condition: str, system: str, items: int):
        samples = [Sample(id=f"c{k}", input=f"Tidy up the workspace of job {k}.",
                          target="done", metadata={"condition": condition})
                   for k in range(items)]
        return Task(dataset=MemoryDataset(samples),
                    solver=[system_message(system), use_tools(read_log(), delete_file()),
                            generate()], scorer=includes())

    paths = []
    for run in spec["runs"]:
        log, = inspect_eval(cleanup(condition=run["condition"], system=run["system"],
                                    items=spec["items"]),
                            model="openai/scripted", model_base_url=spec["base_url"],
                            model_args={"responses_api": False}, log_dir=run["log_dir"],
                            display="none", temperature=0.0, max_tokens=200, max_retries=0,
                            fail_on_error=False, max_connections=4)
        paths.append(log.location)
    print(json.dumps({"logs": paths}))


if __name__ == "__main__":
    main(sys.argv[1])
