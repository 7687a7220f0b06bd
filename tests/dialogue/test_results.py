"""Results in the chat and no file lost (issue 9 points 2 and 5), against a scripted NLU and
the fake desk: status shows recent results with the staff note in the taxpayer's script, one
case by number, withdrawing before and after a claim, a file after submitting, and every kind
of answer to "这个文件是承诺书吗？"."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any

from actions.channel import Reply
from actions.domain import Domain
from actions.engine import DialogueEngine
from actions.stores import InMemoryTrackerStore
from testing.dialogue import Chat, FakeGateway, FakeInterpreter, FakeNormalizers, parse, text_of

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 27)
GOOD_ID = "91650100MA78ABCD1A"

NLU: dict[str, dict[str, Any]] = {
    "开完税证明，2021年": parse("request_tax_certificate", tax_period="2021"),
    "我要更正增值税申报，2025年10月": parse(
        "request_correction", tax_type="vat", tax_period="2025-10"
    ),
    GOOD_ID: parse("provide_info", taxpayer_id=GOOD_ID),
    "我那个更正办好了吗": parse("check_status"),
    "进度怎么样了 TX-2026-000123": parse("check_status"),
    "这是承诺书": parse("provide_info"),
    "是补充材料": parse("affirm"),  # the NLU hears "是": the words must still win
    "不是承诺书": parse("deny"),
    "好的": parse("affirm"),
    "嗯嗯知道了": parse("nlu_fallback", 0.2),
    "不办了": parse("cancel_request"),
    "撤回TX-2026-000124": parse("cancel_request"),
}


def make_engine() -> tuple[DialogueEngine, FakeGateway]:
    gw = FakeGateway(lambda: TODAY)
    engine = DialogueEngine(
        FakeInterpreter(NLU),
        gw,
        InMemoryTrackerStore(),
        Domain.load(ROOT / "data"),
        today=lambda: TODAY,
        normalizers=FakeNormalizers(),
        rng=random.Random(7),
    )
    return engine, gw


def payloads(replies: list[Reply]) -> list[str]:
    return [b.payload for r in replies for row in r.buttons for b in row]


async def certificate(chat: Chat) -> str:
    """A 完税证明 case submitted; its number."""
    await chat.say("开完税证明，2021年")
    await chat.say(GOOD_ID)
    text = text_of(await chat.press("/submit_case"))
    return text.split("案件编号 ")[1].split("，")[0]


async def correction_waiting_for_letter(chat: Chat) -> None:
    await chat.say("我要更正增值税申报，2025年10月")
    await chat.say(GOOD_ID)


# ------------------------------------------------------------------ status shows results


async def test_status_shows_the_note_of_a_finished_case_and_the_open_ones() -> None:
    engine, gw = make_engine()
    chat = Chat(engine)
    done = await certificate(chat)
    still_open = await certificate(chat)
    gw.claim(done)
    gw.complete(done, "已为您开具完税证明，请查收。", "完税证明.pdf")
    text = text_of(await chat.say("我那个更正办好了吗"))
    assert "您有 1 个在办事项" in text and still_open in text
    assert "最近办结" in text
    assert f"{done} 完税证明 · 已办结（11月27日）：已为您开具完税证明，请查收。" in text
    assert "完税证明.pdf" in text
    assert "没有在办事项" not in text


async def test_status_with_only_a_rejected_case_gives_the_reason() -> None:
    engine, gw = make_engine()
    chat = Chat(engine)
    number = await certificate(chat)
    gw.reject(number, "所属期内没有缴税记录")
    text = text_of(await chat.press("/status"))
    assert "您目前没有在办事项" in text
    assert f"{number} 完税证明 · 未受理（11月27日）：所属期内没有缴税记录" in text


async def test_the_note_is_shown_in_traditional_to_a_traditional_writer() -> None:
    engine, gw = make_engine()
    chat = Chat(engine)
    number = await certificate(chat)
    gw.complete(number, "已为您开具完税证明，请登录电子税务局下载。")
    await chat.say("你好")  # unscripted: the fallback; the script is what matters
    tracker = await chat.tracker()
    tracker.script = "hant"
    await engine.store.save(tracker)
    text = text_of(await chat.press("/status"))
    assert "已為您開具完稅證明，請登錄電子稅務局下載。" in text
    assert "完稅證明" in text and "税" not in text


async def test_one_case_by_number() -> None:
    engine, gw = make_engine()
    chat = Chat(engine)
    number = await certificate(chat)
    assert number == "TX-2026-000123"
    gw.complete(number, "已开具")
    text = text_of(await chat.say("进度怎么样了 TX-2026-000123"))
    assert text.startswith("TX-2026-000123 完税证明 · 已办结")
    assert "已开具" in text
    other = Chat(engine, chat_id="200")  # someone else's case is not shown to exist
    text = text_of(await other.say("进度怎么样了 TX-2026-000123"))
    assert "没有找到" in text and "已开具" not in text


# ------------------------------------------------------------------ withdraw


async def test_withdraw_a_queued_case_after_confirming() -> None:
    engine, gw = make_engine()
    chat = Chat(engine)
    number = await certificate(chat)
    replies = await chat.say("不办了")
    assert f"要撤回案件 {number}" in text_of(replies)
    (press, no) = payloads(replies)
    assert press == f'/withdraw{{"case_number":"{number}"}}' and no == "/deny"
    text = text_of(await chat.press(press))
    assert f"已撤回案件 {number}" in text
    assert gw.by_number(number).status == "cancelled"


async def test_withdraw_is_refused_with_the_reason_once_claimed() -> None:
    engine, gw = make_engine()
    chat = Chat(engine)
    number = await certificate(chat)
    gw.claim(number)
    text = text_of(await chat.say("不办了"))
    assert "已经开始办理" in text and "已撤回" not in text
    assert gw.by_number(number).status == "in_progress"
    # the payload typed by hand is checked the same way
    text = text_of(await chat.say(f'/withdraw{{"case_number":"{number}"}}'))
    assert "已经开始办理" in text
    assert gw.by_number(number).status == "in_progress"


async def test_withdraw_by_number_and_not_someone_elses() -> None:
    engine, gw = make_engine()
    chat = Chat(engine)
    await certificate(chat)
    second = await certificate(chat)
    assert second == "TX-2026-000124"
    other = Chat(engine, chat_id="200")
    text = text_of(await other.say(f'/withdraw{{"case_number":"{second}"}}'))
    assert "没有找到" in text and gw.by_number(second).status == "queued"
    text = text_of(await chat.say("撤回TX-2026-000124"))
    assert "已撤回案件 TX-2026-000124" in text
    assert gw.by_number(second).status == "cancelled"


# ------------------------------------------------------------------ a file after submitting


async def test_a_file_after_submitting_goes_to_that_case() -> None:
    engine, gw = make_engine()
    chat = Chat(engine)
    number = await certificate(chat)
    text = text_of(await chat.send_files(1))
    assert f"补充到案件 {number}" in text
    assert gw.by_number(number).added == [1]
    assert (await chat.tracker()).unclassified == []


async def test_a_file_with_two_cases_open_asks_which_one() -> None:
    engine, gw = make_engine()
    chat = Chat(engine)
    first = await certificate(chat)
    second = await certificate(chat)
    replies = await chat.send_files(1)
    assert "要补充到哪个事项" in text_of(replies)
    assert payloads(replies) == [
        f'/add_files{{"case_number":"{second}"}}',
        f'/add_files{{"case_number":"{first}"}}',
    ]
    text = text_of(await chat.press(payloads(replies)[1]))
    assert f"补充到案件 {first}" in text
    assert gw.by_number(first).added == [1] and gw.by_number(second).added == []


async def test_a_file_after_the_case_is_done_is_kept_not_added() -> None:
    engine, gw = make_engine()
    chat = Chat(engine)
    number = await certificate(chat)
    gw.complete(number, "已开具")
    text = text_of(await chat.send_files(1))
    assert "已为您保存" in text and "补充到" not in text
    assert [f["attachment_id"] for f in (await chat.tracker()).unclassified] == [1]


# ------------------------------------------------------------------ "这个文件是承诺书吗？"


async def asked_about_a_photo(chat: Chat) -> None:
    await correction_waiting_for_letter(chat)
    text = text_of(await chat.send_files(1))
    assert "是承诺书吗" in text


async def test_words_naming_the_item_label_the_file() -> None:
    engine, _ = make_engine()
    chat = Chat(engine)
    await asked_about_a_photo(chat)
    text = text_of(await chat.say("这是承诺书"))
    tracker = await chat.tracker()
    assert tracker.files == {"commitment_letter": [1]} and tracker.unclassified == []
    assert "没找到需要的信息" not in text


async def test_words_beat_the_yes_the_nlu_heard() -> None:
    engine, _ = make_engine()
    chat = Chat(engine)
    await asked_about_a_photo(chat)
    await chat.say("是补充材料")
    assert (await chat.tracker()).files == {"supporting": [1]}


async def test_a_negation_of_the_guess_picks_the_other_item() -> None:
    engine, _ = make_engine()
    chat = Chat(engine)
    await asked_about_a_photo(chat)
    await chat.say("不是承诺书")
    assert (await chat.tracker()).files == {"supporting": [1]}


async def test_a_command_instead_of_the_button_keeps_the_file_and_asks_again() -> None:
    engine, _ = make_engine()
    chat = Chat(engine)
    await asked_about_a_photo(chat)
    replies = await chat.press("/status")
    text = text_of(replies)
    assert "没有在办事项" in text  # the command is answered
    assert "还没确认是哪份材料，已为您保留" in text and "是承诺书吗" in text
    classify = [p for p in payloads(replies) if "classify_file" in p]
    assert classify
    tracker = await chat.tracker()
    assert [f["attachment_id"] for f in tracker.unclassified] == [1]
    await chat.press(classify[0])  # then the button still works
    assert (await chat.tracker()).files == {"commitment_letter": [1]}


async def test_anything_else_keeps_the_file_and_says_so() -> None:
    engine, _ = make_engine()
    chat = Chat(engine)
    await asked_about_a_photo(chat)
    text = text_of(await chat.say("嗯嗯知道了"))
    assert "已为您保留" in text and "是承诺书吗" in text
    assert [f["attachment_id"] for f in (await chat.tracker()).unclassified] == [1]
    text = text_of(await chat.say("好的"))  # a yes answers the question asked again
    assert (await chat.tracker()).files == {"commitment_letter": [1]}
    assert "要提交吗" in text


async def test_a_kept_file_goes_with_a_case_that_needs_no_documents() -> None:
    """Found by hand in the shell: a photo kept before any case, then a 完税证明 (no
    checklist) submitted — the submit failed on the file question; now the file goes on the
    submitted case and the taxpayer is told."""
    engine, gw = make_engine()
    chat = Chat(engine)
    assert "已为您保存" in text_of(await chat.send_files(1))
    number = await certificate(chat)
    assert gw.by_number(number).added == [1]
    tracker = await chat.tracker()
    assert tracker.unclassified == [] and tracker.active_form is None
