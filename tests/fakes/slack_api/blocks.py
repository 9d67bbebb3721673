"""Block Kit validation: the limits Slack enforces on blocks, so a bot's message fails here as
it would there."""

from __future__ import annotations

from typing import Any

# ---------------------------------------------------------------------- block validation

_TEXT_TYPES = ("plain_text", "mrkdwn")
_KNOWN_BLOCKS = {
    "section",
    "divider",
    "header",
    "context",
    "actions",
    "image",
    "rich_text",
    "input",
    "file",
    "video",
    "markdown",
    "table",
    "context_actions",
}


def validate_blocks(blocks: Any, *, max_blocks: int = 50) -> list[str]:
    """The subset of Slack's Block Kit limits a bot most often trips over.

    Error strings mimic Slack's ``invalid_blocks`` messages, including the json-pointer.
    """
    errors: list[str] = []

    def err(msg: str, pointer: str) -> None:
        errors.append(f"{msg} [json-pointer:{pointer}]")

    def text_obj(obj: Any, pointer: str, max_len: int, types: tuple[str, ...] = _TEXT_TYPES) -> None:
        if not isinstance(obj, dict):
            err("must provide an object", pointer)
            return
        if obj.get("type") not in types:
            err(f"must be one of {list(types)}", pointer + "/type")
        text = obj.get("text")
        if not isinstance(text, str) or len(text) < 1:
            err("must be more than 0 characters", pointer + "/text")
        elif len(text) > max_len:
            err(f"must be less than {max_len + 1} characters", pointer + "/text")

    def element(el: Any, pointer: str) -> None:
        if not isinstance(el, dict):
            err("must provide an object", pointer)
            return
        if len(str(el.get("action_id", ""))) > 255:
            err("must be less than 256 characters", pointer + "/action_id")
        if el.get("type") == "button":
            text_obj(el.get("text"), pointer + "/text", 75, ("plain_text",))
            if len(str(el.get("value", ""))) > 2000:
                err("must be less than 2001 characters", pointer + "/value")
            if len(str(el.get("url", ""))) > 3000:
                err("must be less than 3001 characters", pointer + "/url")

    if not isinstance(blocks, list):
        return ["must provide an array [json-pointer:/blocks]"]
    if len(blocks) > max_blocks:
        err(f"no more than {max_blocks} items allowed", "/blocks")
    for i, block in enumerate(blocks):
        p = f"/blocks/{i}"
        if not isinstance(block, dict):
            err("must provide an object", p)
            continue
        btype = block.get("type")
        if btype not in _KNOWN_BLOCKS:
            err(f"unsupported type: {btype}", p + "/type")
            continue
        if len(str(block.get("block_id", ""))) > 255:
            err("must be less than 256 characters", p + "/block_id")
        if btype == "section":
            if "text" not in block and "fields" not in block:
                err("must provide either text or fields", p)
            if "text" in block:
                text_obj(block["text"], p + "/text", 3000)
            fields = block.get("fields")
            if fields is not None:
                if not isinstance(fields, list) or len(fields) > 10:
                    err("no more than 10 items allowed", p + "/fields")
                else:
                    for j, f in enumerate(fields):
                        text_obj(f, f"{p}/fields/{j}", 2000)
            if "accessory" in block:
                element(block["accessory"], p + "/accessory")
        elif btype == "header":
            text_obj(block.get("text"), p + "/text", 150, ("plain_text",))
        elif btype == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                err("must provide an array with at least 1 item", p + "/elements")
            elif len(elements) > 10:
                err("no more than 10 items allowed", p + "/elements")
            else:
                for j, el in enumerate(elements):
                    if isinstance(el, dict) and el.get("type") in _TEXT_TYPES:
                        text_obj(el, f"{p}/elements/{j}", 3000)
        elif btype == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                err("must provide an array with at least 1 item", p + "/elements")
            elif len(elements) > 25:
                err("no more than 25 items allowed", p + "/elements")
            else:
                for j, el in enumerate(elements):
                    element(el, f"{p}/elements/{j}")
        elif btype == "image":
            if not block.get("image_url") and not block.get("slack_file"):
                err("must provide image_url or slack_file", p)
            alt = block.get("alt_text")
            if not isinstance(alt, str) or not alt:
                err("must be more than 0 characters", p + "/alt_text")
            elif len(alt) > 2000:
                err("must be less than 2001 characters", p + "/alt_text")
        elif btype == "markdown":
            text = block.get("text")
            if not isinstance(text, str) or not text:
                err("must be more than 0 characters", p + "/text")
            elif len(text) > 12000:
                err("must be less than 12001 characters", p + "/text")
    return errors
