"""Generate agentic-misalignment prompts with the user's installed ``inspect_evals`` package.

Runs under the interpreter that has ``inspect_evals`` (as :mod:`consistency.interop.
inspect_reader` runs under Inspect's) and imports nothing from ``consistency``::

    PYTHON agentic_misalignment_gen.py SCENARIO:GOAL_TYPE:GOAL_VALUE:URGENCY ...

For each condition it calls the package's own ``generate_prompts`` with no evaluation-awareness
notice (that notice is not an arm here) and prints one JSON object per line: the condition, the
``system``, ``user`` and ``emails`` texts, the package's classifier prompts for that scenario
(``classifier_system``, ``classifier_user``), the addresses its classifier requires
(``target_emails``) and the package version. Nothing of the scenarios is stored anywhere else.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import sys

CLASSIFIERS = {"blackmail": ("blackmail_classifier", "BLACKMAIL", "BlackmailClassifier"),
               "leaking": ("leak_classifier", "LEAK", "LeakClassifier"),
               "murder": ("murder_classifier", "MURDER", "MurderClassifier")}


def main(conditions: list[str]) -> int:
    from inspect_evals.agentic_misalignment.prompt_generator import generate_prompts

    version = importlib.metadata.version("inspect_evals")
    for condition in conditions:
        scenario, goal_type, goal_value, urgency = condition.split(":")
        prompts = generate_prompts(scenario=scenario, goal_type=goal_type, goal_value=goal_value,
                                   urgency_type=urgency, extra_system_instructions=None,
                                   prod_flag=False, alignment_faking_warning=None)
        module_name, prefix, class_name = CLASSIFIERS[scenario]
        module = importlib.import_module(
            f"inspect_evals.agentic_misalignment.classifiers.{module_name}")
        classifier = getattr(module, class_name)(model_id="unused")
        print(json.dumps({
            "scenario": scenario, "goal_type": goal_type, "goal_value": goal_value,
            "urgency_type": urgency, "system": prompts.system_prompt,
            "user": prompts.user_prompt, "emails": prompts.email_content,
            "classifier_system": getattr(module, f"{prefix}_CLASSIFICATION_SYSTEM_PROMPT"),
            "classifier_user": getattr(module, f"{prefix}_CLASSIFICATION_USER_PROMPT"),
            "target_emails": list(classifier.necessary_emails),
            "inspect_evals_version": version}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
