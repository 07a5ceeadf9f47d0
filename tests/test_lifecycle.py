"""The state machine without a database: every allowed move per role, and refusals."""

from __future__ import annotations

import pytest

from ocop_core import lifecycle as lc
from ocop_core.authz import Actor
from ocop_core.errors import Forbidden, InvalidTransition, ValidationError
from ocop_core.lifecycle import Stage
from ocop_core.models import Role
from ocop_core.rules import get_ruleset

PRODUCER = Actor(account_id=1)
COMMUNE = Actor(account_id=2, role=Role.COMMUNE, communes=frozenset({"03390"}))
PROVINCE = Actor(account_id=3, role=Role.PROVINCE, province_code="12")
ADMIN = Actor(account_id=4, role=Role.ADMIN)
Q148 = get_ruleset("qd148-2023")
Q26 = get_ruleset("qd26-2026")


def test_stages_follow_the_ruleset() -> None:
    assert Stage.AT_DISTRICT in lc.stages_of(Q148)
    assert Stage.AT_DISTRICT not in lc.stages_of(Q26)
    assert lc.stages_of(Q26).index(Stage.AT_PROVINCE) > lc.stages_of(Q26).index(
        Stage.COMMUNE_CHECKED
    )


@pytest.mark.parametrize("stage", [Stage.IDEA_REGISTERED, Stage.DOCUMENTS_PENDING])
def test_producer_moves(stage: Stage) -> None:
    assert lc.plan_submit(PRODUCER, stage).to_stage == Stage.SUBMITTED
    assert lc.plan_add_document(PRODUCER, stage).to_stage == Stage.DOCUMENTS_PENDING
    lc.plan_edit(PRODUCER, stage)


@pytest.mark.parametrize(
    "stage", [Stage.SUBMITTED, Stage.COMMUNE_CHECKED, Stage.AT_PROVINCE, Stage.CERTIFIED]
)
def test_producer_cannot_submit_twice_or_edit_late(stage: Stage) -> None:
    with pytest.raises(InvalidTransition):
        lc.plan_submit(PRODUCER, stage)
    with pytest.raises(InvalidTransition):
        lc.plan_edit(PRODUCER, stage)


def test_producer_cannot_do_officer_work() -> None:
    for fn in (lc.plan_commune_check, lc.plan_return, lc.plan_revoke):
        with pytest.raises(Forbidden):
            fn(PRODUCER, Stage.SUBMITTED)
    with pytest.raises(Forbidden):
        lc.plan_score(PRODUCER, Stage.AT_PROVINCE, Q26, 80)
    with pytest.raises(Forbidden):
        lc.plan_forward(PRODUCER, Stage.COMMUNE_CHECKED, Q26, None)


def test_commune_officer_moves() -> None:
    assert lc.plan_commune_check(COMMUNE, Stage.SUBMITTED).to_stage == Stage.COMMUNE_CHECKED
    assert lc.plan_return(COMMUNE, Stage.SUBMITTED).to_stage == Stage.DOCUMENTS_PENDING
    assert lc.plan_return(COMMUNE, Stage.COMMUNE_CHECKED).to_stage == Stage.DOCUMENTS_PENDING
    assert lc.plan_reject(COMMUNE, Stage.SUBMITTED).to_stage == Stage.REJECTED
    assert lc.plan_request_documents(COMMUNE, Stage.SUBMITTED).to_stage == Stage.DOCUMENTS_PENDING
    assert lc.plan_forward(COMMUNE, Stage.COMMUNE_CHECKED, Q26, None).to_stage == (
        Stage.AT_PROVINCE
    )
    assert lc.plan_forward(COMMUNE, Stage.COMMUNE_CHECKED, Q148, None).to_stage == (
        Stage.AT_DISTRICT
    )


def test_commune_officer_refusals() -> None:
    with pytest.raises(InvalidTransition):
        lc.plan_commune_check(COMMUNE, Stage.DOCUMENTS_PENDING)  # nothing submitted yet
    with pytest.raises(InvalidTransition):
        lc.plan_commune_check(COMMUNE, Stage.COMMUNE_CHECKED)  # twice
    with pytest.raises(Forbidden):
        lc.plan_score(COMMUNE, Stage.AT_PROVINCE, Q26, 80)
    with pytest.raises(Forbidden):
        lc.plan_certify(COMMUNE, Stage.PROVINCE_SCORED, Q26, 4)
    with pytest.raises(Forbidden):
        lc.plan_reject(COMMUNE, Stage.AT_PROVINCE)
    with pytest.raises(InvalidTransition):
        lc.plan_forward(COMMUNE, Stage.SUBMITTED, Q26, None)  # check first


def test_qd26_province_scoring() -> None:
    assert lc.plan_score(PROVINCE, Stage.AT_PROVINCE, Q26, 49.99).to_stage == Stage.NOT_CERTIFIED
    move = lc.plan_score(PROVINCE, Stage.AT_PROVINCE, Q26, 50)
    assert (move.to_stage, move.stars) == (Stage.PROVINCE_SCORED, 3)
    move = lc.plan_score(PROVINCE, Stage.AT_PROVINCE, Q26, 89.5)
    assert (move.to_stage, move.stars) == (Stage.PROVINCE_SCORED, 4)
    assert lc.plan_certify(PROVINCE, Stage.PROVINCE_SCORED, Q26, 4).to_stage == Stage.CERTIFIED
    with pytest.raises(InvalidTransition):
        lc.plan_forward(PROVINCE, Stage.PROVINCE_SCORED, Q26, 89.5)
    assert lc.plan_forward(PROVINCE, Stage.PROVINCE_SCORED, Q26, 90).to_stage == Stage.AT_CENTRAL
    with pytest.raises(InvalidTransition):  # 5★ is the Ministry's to certify
        lc.plan_certify(PROVINCE, Stage.PROVINCE_SCORED, Q26, 5)


def test_qd26_central_below_90_returns_to_province() -> None:
    move = lc.plan_score(PROVINCE, Stage.AT_CENTRAL, Q26, 88)
    assert (move.to_stage, move.stars) == (Stage.PROVINCE_SCORED, 4)
    move = lc.plan_score(PROVINCE, Stage.AT_CENTRAL, Q26, 92)
    assert (move.to_stage, move.stars) == (Stage.CENTRAL_SCORED, 5)
    assert lc.plan_certify(PROVINCE, Stage.CENTRAL_SCORED, Q26, 5).to_stage == Stage.CERTIFIED


def test_qd148_three_tiers() -> None:
    move = lc.plan_score(PROVINCE, Stage.AT_DISTRICT, Q148, 65)
    assert (move.to_stage, move.stars) == (Stage.DISTRICT_SCORED, 3)
    assert lc.plan_certify(PROVINCE, Stage.DISTRICT_SCORED, Q148, 3).to_stage == Stage.CERTIFIED
    with pytest.raises(InvalidTransition):
        lc.plan_forward(PROVINCE, Stage.DISTRICT_SCORED, Q148, 69.99)
    move = lc.plan_score(PROVINCE, Stage.AT_DISTRICT, Q148, 70)
    assert (move.to_stage, move.stars) == (Stage.DISTRICT_SCORED, 4)
    with pytest.raises(InvalidTransition):  # the district certifies 3★ only
        lc.plan_certify(PROVINCE, Stage.DISTRICT_SCORED, Q148, 4)
    assert lc.plan_forward(PROVINCE, Stage.DISTRICT_SCORED, Q148, 70).to_stage == (
        Stage.AT_PROVINCE
    )
    # Hà Nam 2024: a province score under 70 goes back to the district, which may certify 3★.
    move = lc.plan_score(PROVINCE, Stage.AT_PROVINCE, Q148, 66)
    assert (move.to_stage, move.stars) == (Stage.DISTRICT_SCORED, 3)
    move = lc.plan_score(PROVINCE, Stage.AT_PROVINCE, Q148, 80)
    assert lc.plan_certify(PROVINCE, move.to_stage, Q148, move.stars).to_stage == Stage.CERTIFIED
    assert lc.plan_forward(PROVINCE, Stage.PROVINCE_SCORED, Q148, 90).to_stage == (Stage.AT_CENTRAL)


def test_revoke_only_certified() -> None:
    assert lc.plan_revoke(PROVINCE, Stage.CERTIFIED).to_stage == Stage.REVOKED
    with pytest.raises(InvalidTransition):
        lc.plan_revoke(PROVINCE, Stage.PROVINCE_SCORED)
    assert lc.plan_revoke(ADMIN, Stage.CERTIFIED).to_stage == Stage.REVOKED


@pytest.mark.parametrize(
    ("typed", "value"), [("85,5", 85.5), ("85.5", 85.5), (" 90 ", 90.0), ("0", 0.0), ("100", 100)]
)
def test_points_as_typed(typed: str, value: float) -> None:
    assert lc.parse_points(typed) == value


@pytest.mark.parametrize("typed", ["abc", "120", "-1", "NaN", "", "85,555", "1e2x"])
def test_points_refused(typed: str) -> None:
    with pytest.raises(ValidationError) as err:
        lc.parse_points(typed)
    assert err.value.key in {"error.points_format", "error.points_range"}


def test_who_acts_next() -> None:
    assert lc.who_acts(Stage.DOCUMENTS_PENDING) == "producer"
    assert lc.who_acts(Stage.SUBMITTED) == "commune"
    assert lc.who_acts(Stage.AT_DISTRICT) == "district"
    assert lc.who_acts(Stage.PROVINCE_SCORED) == "province"
    assert lc.who_acts(Stage.CERTIFIED) is None
