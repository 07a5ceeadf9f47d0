"""/start: language, producer or officer, the personal-data notice, the phone number."""

from __future__ import annotations

from bot.flows.engine import END, Answer, Flow, FlowContext, Reask, Step
from bot.flows.types import Choice, Kind, Reply
from ocop_core.i18n import N_
from ocop_core.phones import normalise_vn_mobile
from ocop_core.services import accounts

LANGUAGES = (("vi", "Tiếng Việt"), ("en", "English"))  # each named in its own language


async def ask_language(fc: FlowContext) -> Reply:
    return Reply(
        fc.t(N_("onboarding.language")),
        tuple(Choice(f"lang:{code}", label) for code, label in LANGUAGES),
        columns=2,
    )


async def got_language(fc: FlowContext, answer: Answer) -> str:
    choice = answer.require_choice()
    await accounts.set_locale(fc.s, fc.account, choice.removeprefix("lang:"))
    if not fc.data.get("_onboarding", True):
        return END
    return "consent" if fc.data.get("_after") else "role"  # came with an invite: an officer


async def ask_role(fc: FlowContext) -> Reply:
    return Reply(
        fc.t(N_("onboarding.role")),
        (
            Choice("producer", fc.t(N_("onboarding.role.producer"))),
            Choice("officer", fc.t(N_("onboarding.role.officer"))),
        ),
    )


async def got_role(fc: FlowContext, answer: Answer) -> str:
    if answer.require_choice() == "officer":
        fc.say(N_("onboarding.officer_hint"))
    return "consent"


async def ask_consent(fc: FlowContext) -> Reply:
    return Reply(
        fc.t(N_("onboarding.consent")),
        (
            Choice("agree", fc.t(N_("onboarding.consent.agree"))),
            Choice("decline", fc.t(N_("onboarding.consent.decline"))),
        ),
    )


async def got_consent(fc: FlowContext, answer: Answer) -> str:
    if answer.require_choice() == "decline":
        fc.say(N_("onboarding.declined"))
        return END
    await accounts.record_consent(fc.s, fc.core, fc.account)
    return "phone"


async def ask_phone(fc: FlowContext) -> Reply:
    if fc.caps.contact_button:
        return Reply(fc.t(N_("onboarding.phone.button")), request_contact=True)
    return Reply(fc.t(N_("onboarding.phone.type")))


async def got_phone(fc: FlowContext, answer: Answer) -> str:
    if answer.kind == Kind.CONTACT and not answer.phone:  # another person's contact card
        raise Reask(N_("onboarding.phone.not_own"))
    if answer.phone:
        number = normalise_vn_mobile(answer.phone)
        verified = number is not None
    else:
        number = normalise_vn_mobile(answer.require_text(40))
        verified = False
    if number is None:
        raise Reask(N_("onboarding.phone.invalid"))
    await accounts.set_phone(fc.s, fc.account, number, verified=verified)
    fc.say(N_("onboarding.done"), phone=number)
    return END


ONBOARDING = Flow(
    name="onboarding",
    first="language",
    steps={
        "language": Step("language", ask_language, got_language),
        "role": Step("role", ask_role, got_role),
        "consent": Step("consent", ask_consent, got_consent),
        "phone": Step("phone", ask_phone, got_phone),
    },
)


async def _language_only(fc: FlowContext, _args: dict[str, object]) -> str:
    fc.data["_onboarding"] = False
    return "language"


LANGUAGE = Flow(
    name="language",
    first="language",
    steps={"language": Step("language", ask_language, got_language)},
    on_start=_language_only,
)
