"""The clinic data contract: what a valid folder looks like and how problems are reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from data_schemas.columns import CLIENTS as CLIENT_COLUMNS
from data_schemas.columns import THERAPISTS as THERAPIST_COLUMNS
from data_schemas.parsing import cells_as_text, parse_table
from data_schemas.problems import DataValidationError
from data_schemas.records import ClientHistory
from data_schemas.tables import load_clinic_data

CLIENTS = (
    "client_id,therapist_id,site_id,intake_date,age_years,sex,interpreter_used,prior_episodes,"
    "history_of_violence,substance_misuse,primary_problem,setting,episode_end_date,"
    "episode_end_reason,first_violence_date\n"
    "c1,t1,s1,2024-01-05,34,F,no,0,false,no,anxiety,outpatient,2024-02-14,dropout,\n"
    "c2,t1,,2024-02-01,15,M,1,2,true,0,depression,inpatient,,,2024-02-10\n"
)
THERAPISTS = (
    "therapist_id,years_experience,profession,orientation,caseload\nt1,5.5,psychologist,cbt,20\n"
)
SESSIONS = (
    "client_id,session_number,session_date,attended,alliance_instrument,alliance_score,"
    "alliance_rater,anxiety_gad7,pre_session_distress\n"
    "c1,1,2024-01-10,true,WAI-SR,44,client,12,5\n"
    "c1,2,2024-01-17,yes,WAI-SR,40,,11,\n"
    "c1,3,2024-01-24,no,,,,,\n"
    "c2,1,2024-02-08,1,TASC-R,30,client,,3\n"
    "c2,2,2024-02-15,1,,,therapist,,\n"
)


def write_folder(
    folder: Path,
    *,
    clients: str = CLIENTS,
    therapists: str = THERAPISTS,
    sessions: str = SESSIONS,
    delimiter: str = ",",
    bom: bool = False,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("clients", clients), ("therapists", therapists), ("sessions", sessions)):
        content = text.replace(",", delimiter)
        (folder / f"{name}.csv").write_text(("\ufeff" if bom else "") + content, encoding="utf-8")
    return folder


def problems_of(folder: Path) -> list:
    with pytest.raises(DataValidationError) as caught:
        load_clinic_data(folder)
    return caught.value.problems


def test_valid_folder_loads_with_typed_columns(tmp_path: Path) -> None:
    tables = load_clinic_data(write_folder(tmp_path), require_outcomes=True)
    assert tables.has_outcomes
    assert tables.clients["interpreter_used"].tolist() == [False, True]
    assert str(tables.sessions["session_date"].dtype) == "datetime64[ns]"
    assert tables.sessions["alliance_rater"].tolist()[:2] == ["client", "client"]
    assert pd.isna(tables.sessions.loc[3, "alliance_score"])


def test_semicolon_delimiter_and_byte_order_mark_are_accepted(tmp_path: Path) -> None:
    tables = load_clinic_data(write_folder(tmp_path, delimiter=";", bom=True))
    assert list(tables.clients["client_id"]) == ["c1", "c2"]


def test_parquet_and_csv_give_the_same_tables(tmp_path: Path) -> None:
    from_csv = load_clinic_data(write_folder(tmp_path / "csv"))
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    for name in ("clients", "therapists", "sessions"):
        getattr(from_csv, name).to_parquet(parquet / f"{name}.parquet", index=False)
    from_parquet = load_clinic_data(parquet)
    for name in ("clients", "therapists", "sessions"):
        pd.testing.assert_frame_equal(getattr(from_csv, name), getattr(from_parquet, name))


def test_typed_cells_read_as_their_csv_spelling() -> None:
    """Parquet cells are parsed from their types, not through text; every type a clinic's
    Parquet may hold gives the table and the problems its CSV spelling gives."""
    typed = pd.DataFrame(
        {
            "client_id": pd.Series([101, 102, 103, 104, 105, 106]),
            "therapist_id": ["t1"] * 6,
            "intake_date": pd.to_datetime(
                ["2024-01-05", "2024-01-06 10:30", None, "2024-01-08", "2024-01-09", "2024-01-10"],
                format="ISO8601",
            ),
            "age_years": [34.0, 30.5, np.nan, np.inf, 40.0, 1e20],
            "sex": pd.Series(["F", " M ", "", None, "X", "F"], dtype="string"),
            "interpreter_used": [True, False, True, False, True, False],
            "prior_episodes": pd.Series([0, None, 2, 3, -1, 5], dtype="Int64"),
            "history_of_violence": pd.Series([0, 1, 2, 1, 0, 1], dtype="int8"),
            "substance_misuse": pd.Series([True, None, False, True, False, True], dtype="boolean"),
            "primary_problem": ["anxiety"] * 6,
            "setting": ["outpatient"] * 6,
            "episode_end_date": pd.to_datetime([None] * 6),
            "episode_end_reason": pd.Series([None] * 6, dtype="string"),
            "first_violence_date": pd.to_datetime([None] * 6),
        }
    )
    as_text = typed.apply(cells_as_text)
    assert as_text["age_years"].tolist()[:2] == ["34.0", "30.5"]
    from_types, typed_problems = parse_table(typed, CLIENT_COLUMNS)
    from_text, text_problems = parse_table(as_text, CLIENT_COLUMNS)
    pd.testing.assert_frame_equal(from_types, from_text)
    assert typed_problems == text_problems
    unreadable = {(p.row, p.column, p.value) for p in typed_problems}
    assert unreadable == {
        (2, "intake_date", "2024-01-06 10:30:00"),
        (2, "age_years", "30.5"),
        (4, "age_years", "inf"),
        (6, "age_years", "1e+20"),
        (3, "history_of_violence", "2"),
    }
    therapists = pd.DataFrame(
        {
            "therapist_id": ["t1"],
            "years_experience": pd.Series([5], dtype="int32"),
            "profession": ["psychologist"],
            "orientation": ["cbt"],
            "caseload": pd.Series([20.0]),
        }
    )
    from_types, problems = parse_table(therapists, THERAPIST_COLUMNS)
    assert problems == []
    assert from_types["years_experience"].tolist() == [5.0]
    assert str(from_types["caseload"].dtype) == "Int64"


def test_every_problem_is_reported_with_table_row_column_and_reason(tmp_path: Path) -> None:
    broken_clients = CLIENTS.replace("c2,t1,,2024-02-01,15,M,1", "c2,t9,,2024-13-01,3,Q,maybe")
    broken_sessions = SESSIONS.replace(
        "c1,2,2024-01-17,yes,WAI-SR,40", "c1,2,2024-01-09,yes,WAI-SR,70"
    )
    found = problems_of(write_folder(tmp_path, clients=broken_clients, sessions=broken_sessions))
    where = {(p.table, p.row, p.column) for p in found}
    assert where >= {
        ("clients", 2, "therapist_id"),
        ("clients", 2, "intake_date"),
        ("clients", 2, "age_years"),
        ("clients", 2, "sex"),
        ("clients", 2, "interpreter_used"),
        ("sessions", 2, "session_date"),
        ("sessions", 2, "alliance_score"),
    }
    assert all(p.reason for p in found)


def test_unreadable_cells_are_reported_not_coerced(tmp_path: Path) -> None:
    found = problems_of(write_folder(tmp_path, therapists=THERAPISTS.replace("5.5", "five")))
    assert [(p.table, p.row, p.column, p.value) for p in found] == [
        ("therapists", 1, "years_experience", "five")
    ]


def test_missed_session_with_a_rating_is_rejected(tmp_path: Path) -> None:
    sessions = SESSIONS.replace("c1,3,2024-01-24,no,,,,,", "c1,3,2024-01-24,no,SRS,30,,,")
    found = problems_of(write_folder(tmp_path, sessions=sessions))
    assert {p.column for p in found} == {"alliance_instrument", "alliance_score"}


def test_session_numbers_must_be_consecutive_and_unique(tmp_path: Path) -> None:
    gap = SESSIONS.replace("c1,3,2024-01-24", "c1,4,2024-01-24")
    assert [p.column for p in problems_of(write_folder(tmp_path / "gap", sessions=gap))] == [
        "session_number"
    ]
    duplicate = SESSIONS.replace("c1,3,2024-01-24", "c1,2,2024-01-24")
    found = problems_of(write_folder(tmp_path / "dup", sessions=duplicate))
    assert {(p.row, p.column) for p in found} >= {(2, "session_number"), (3, "session_number")}


def test_session_before_intake_is_rejected(tmp_path: Path) -> None:
    sessions = SESSIONS.replace("c1,1,2024-01-10", "c1,1,2024-01-01")
    found = problems_of(write_folder(tmp_path, sessions=sessions))
    assert [(p.row, p.column) for p in found] == [(1, "session_date")]


def test_an_end_reason_needs_an_end_date_and_the_reverse(tmp_path: Path) -> None:
    clients = CLIENTS.replace("2024-02-14,dropout,", ",dropout,").replace(
        "inpatient,,,2024-02-10", "inpatient,2024-03-01,,2024-02-10"
    )
    found = problems_of(write_folder(tmp_path, clients=clients))
    assert {(p.row, p.column) for p in found} == {
        (1, "episode_end_date"),
        (2, "episode_end_reason"),
    }


def test_an_episode_cannot_end_before_intake_nor_hold_sessions_after_its_end(
    tmp_path: Path,
) -> None:
    before_intake = CLIENTS.replace("2024-02-14,dropout", "2024-01-01,dropout")
    found = problems_of(write_folder(tmp_path / "a", clients=before_intake))
    assert ("clients", 1, "episode_end_date", "2024-01-01") in {
        (p.table, p.row, p.column, p.value) for p in found
    }
    too_early = CLIENTS.replace("2024-02-14,dropout", "2024-01-20,dropout")
    found = problems_of(write_folder(tmp_path / "b", clients=too_early))
    assert [(p.table, p.row, p.column, p.value) for p in found] == [
        ("sessions", 3, "session_date", "2024-01-24")
    ]


def test_a_first_incident_must_fall_within_the_episode(tmp_path: Path) -> None:
    before_intake = CLIENTS.replace("inpatient,,,2024-02-10", "inpatient,,,2024-01-31")
    found = problems_of(write_folder(tmp_path / "a", clients=before_intake))
    assert [(p.row, p.column, p.value) for p in found] == [(2, "first_violence_date", "2024-01-31")]
    after_end = CLIENTS.replace("2024-02-14,dropout,", "2024-02-14,dropout,2024-02-20")
    found = problems_of(write_folder(tmp_path / "b", clients=after_end))
    assert [(p.row, p.column, p.value) for p in found] == [(1, "first_violence_date", "2024-02-20")]


@pytest.mark.parametrize(
    ("column", "says"),
    [
        ("dropout", "episode_end_reason"),
        ("dropout_after_session", "episode_end_date"),
        ("violence", "first_violence_date"),
        ("violence_after_session", "first_violence_date"),
    ],
)
def test_contract_v1_outcome_columns_are_refused_with_their_v2_mapping(
    tmp_path: Path, column: str, says: str
) -> None:
    header, *rows = CLIENTS.splitlines()
    clients = "\n".join([f"{header},{column}", *(f"{row}," for row in rows)]) + "\n"
    found = problems_of(write_folder(tmp_path, clients=clients))
    assert len(found) == 1
    assert (found[0].table, found[0].row, found[0].column) == ("clients", None, column)
    assert "contract v1" in found[0].reason
    assert says in found[0].reason


def test_outcome_columns_come_all_together(tmp_path: Path) -> None:
    header, *rows = CLIENTS.splitlines()
    clients = "\n".join(line.rsplit(",", 1)[0] for line in [header, *rows]) + "\n"
    found = problems_of(write_folder(tmp_path, clients=clients))
    assert len(found) == 1
    assert "first_violence_date" in found[0].reason


def test_a_violent_incident_this_episode_flag_is_optional(tmp_path: Path) -> None:
    header, *rows = CLIENTS.splitlines()
    flagged = [f"{rows[0]},", f"{rows[1]},yes"]
    clients = "\n".join([f"{header},violent_incident_this_episode", *flagged]) + "\n"
    tables = load_clinic_data(write_folder(tmp_path / "with", clients=clients))
    assert tables.clients["violent_incident_this_episode"].tolist() == [pd.NA, True]
    without = load_clinic_data(write_folder(tmp_path / "without"))
    assert without.clients["violent_incident_this_episode"].isna().all()


def test_missing_file_unknown_column_and_missing_column_are_reported(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "a", clients=CLIENTS.replace("setting,", "place,"))
    found = problems_of(folder)
    assert {(p.column, p.reason.split(";")[0]) for p in found} == {
        ("place", "unknown column"),
        ("setting", "required column is missing"),
    }
    (folder / "sessions.csv").unlink()
    assert [p.table for p in problems_of(folder)] == ["sessions"]


def test_empty_file_and_truncated_parquet_are_reported(tmp_path: Path) -> None:
    folder = write_folder(tmp_path)
    (folder / "therapists.csv").write_text("")
    assert "empty" in problems_of(folder)[0].reason
    (folder / "therapists.csv").unlink()
    (folder / "therapists.parquet").write_bytes(b"PAR1\x00\x01")
    assert "Parquet" in problems_of(folder)[0].reason


def test_training_requires_outcome_columns(tmp_path: Path) -> None:
    header, *rows = CLIENTS.splitlines()
    keep = header.split(",")[:12]
    clients = "\n".join(",".join(line.split(",")[:12]) for line in [",".join(keep), *rows])
    folder = write_folder(tmp_path, clients=clients + "\n")
    assert not load_clinic_data(folder).has_outcomes
    with pytest.raises(DataValidationError):
        load_clinic_data(folder, require_outcomes=True)


HISTORY = {
    "client": {
        "client_id": "c1",
        "therapist_id": "t1",
        "intake_date": "2024-01-05",
        "age_years": 34,
        "sex": "F",
        "interpreter_used": False,
        "prior_episodes": 0,
        "history_of_violence": False,
        "substance_misuse": False,
        "primary_problem": "anxiety",
        "setting": "outpatient",
    },
    "therapist": {
        "therapist_id": "t1",
        "years_experience": 5.5,
        "profession": "psychologist",
        "orientation": "cbt",
        "caseload": 20,
    },
    "sessions": [
        {
            "session_number": 1,
            "session_date": "2024-01-10",
            "attended": True,
            "alliance_instrument": "WAI-SR",
            "alliance_score": 44,
        },
        {"session_number": 2, "session_date": "2024-01-17", "attended": False},
    ],
}


def test_client_history_record_accepts_a_valid_history() -> None:
    history = ClientHistory.model_validate(HISTORY)
    assert history.sessions[1].alliance_score is None


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("sessions", 0, "alliance_score"), 61),
        (("sessions", 1, "alliance_score"), 30),
        (("sessions", 1, "session_number"), 3),
        (("sessions", 1, "session_date"), "2024-01-09"),
        (("client", "age_years"), 4),
        (("client", "unknown_field"), 1),
    ],
)
def test_client_history_record_rejects_broken_input(path: tuple, value: object) -> None:
    import copy

    broken = copy.deepcopy(HISTORY)
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    if path[-1] == "alliance_score" and path[1] == 1:
        target["alliance_instrument"] = "SRS"
    with pytest.raises(ValidationError):
        ClientHistory.model_validate(broken)
