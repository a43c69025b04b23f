"""Every number the synthetic cohort is drawn from, and where each one comes from.

No real clinic data exist yet, so the cohort stands in for them. Its value depends on
being honest about which numbers are taken from the literature and which are
assumptions, so every field says which. Parameters are grouped by the part of the
generative model they drive; `CohortParameters` holds one group of each.

Scales used below:
- the latent alliance is in client standard deviations (0 = a typical client,
  -1 = one SD poorer); the same holds for the latent anxiety level;
- "log-odds" effects act on the logit of a per-session probability (attendance, the
  dropout hazard after an attended session, the violence hazard per interval between
  sessions), not on the probability of the whole episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from data_schemas.ranges import Orientation, PrimaryProblem, Profession, Setting, Sex

Mix = tuple[tuple[str, float], ...]
"""Categories and their probabilities, e.g. `(("outpatient", 0.75), ...)`; sums to 1."""


def _check_mix(name: str, mix: Mix) -> None:
    total = sum(share for _, share in mix)
    if abs(total - 1.0) > 1e-9 or any(share < 0 for _, share in mix):
        raise ValueError(
            f"{name} must hold non-negative shares that sum to 1; they sum to {total:g}"
        )


def _check_every_setting(name: str, labels: tuple[str, ...]) -> None:
    missing = {str(s) for s in Setting} - {str(label) for label in labels}
    if missing:
        raise ValueError(f"{name} must give a value for every setting; missing: {sorted(missing)}")


@dataclass(frozen=True)
class PopulationParameters:
    """Who the clients are and where they are treated."""

    # Sites (clinics). Each site mostly uses one adult alliance instrument, as real services
    # standardise on one questionnaire; six sites are an assumption big enough to mix both.
    sites: int = 6
    # The last `srs_sites` sites rate adults with the SRS, the others with the WAI-SR
    # (assumption; the brief asks for WAI-SR at most sites, SRS at some).
    srs_sites: int = 2
    # Share of a site's adult clients rated on the site's own instrument; the rest get the
    # other adult instrument, so instrument is not a perfect proxy for site (assumption).
    site_instrument_share: float = 0.9
    # Intake dates are spread uniformly over about three years from this Monday (assumption).
    intake_start: str = "2021-01-04"
    intake_span_days: int = 3 * 365
    # The export is taken this many days after the last possible intake day. Episodes still
    # running then are ongoing in the export: their later sessions, end and any later
    # incident are not in it (assumption: an export the day after intake closes leaves
    # about one client in ten with an ongoing episode). `None` follows every episode to
    # its end, for checks that need complete outcomes.
    export_after_last_intake_days: int | None = 0
    # Children and adolescents (age < 18), rated with the TASC-R (assumption: a mixed
    # service where about one client in seven is a minor).
    child_share: float = 0.15
    child_age_range: tuple[int, int] = (8, 17)
    # Adult age, normal and clipped (assumption typical of outpatient psychotherapy).
    adult_age_mean: float = 38.0
    adult_age_sd: float = 13.0
    adult_age_range: tuple[int, int] = (18, 80)
    # Recorded sex (assumption: women are the majority of psychotherapy clients).
    sex_mix: Mix = ((Sex.FEMALE, 0.58), (Sex.MALE, 0.40), (Sex.OTHER, 0.01), (Sex.UNKNOWN, 0.01))
    # Sessions held through an interpreter (assumption given in the brief: about 8%).
    interpreter_share: float = 0.08
    # Earlier treatment episodes, Poisson mean (assumption; has no effect on outcomes).
    prior_episodes_mean: float = 0.8
    # Treatment setting: outpatient majority, ~15% inpatient, ~10% day clinic (assumption).
    setting_mix: Mix = (
        (Setting.OUTPATIENT, 0.75),
        (Setting.INPATIENT, 0.15),
        (Setting.DAY_CLINIC, 0.10),
    )
    # Primary problem by setting, in `PrimaryProblem` order (anxiety, depression, trauma,
    # personality, psychosis, substance, other). Assumption: psychosis and personality
    # problems are concentrated in inpatient and day-clinic care.
    problem_mix_by_setting: tuple[tuple[str, tuple[float, ...]], ...] = (
        (Setting.OUTPATIENT, (0.30, 0.30, 0.12, 0.08, 0.03, 0.07, 0.10)),
        (Setting.INPATIENT, (0.08, 0.30, 0.08, 0.14, 0.25, 0.10, 0.05)),
        (Setting.DAY_CLINIC, (0.18, 0.35, 0.10, 0.15, 0.10, 0.05, 0.07)),
    )
    # Documented violence before intake, by setting (assumption: more common where care is
    # more acute, as inpatient samples in Iozzino et al. 2015 suggest).
    history_of_violence_by_setting: Mix = (
        (Setting.OUTPATIENT, 0.07),
        (Setting.INPATIENT, 0.25),
        (Setting.DAY_CLINIC, 0.12),
    )
    # Current substance misuse: nearly all clients whose primary problem is substance use,
    # and a minority of the others (assumption).
    substance_misuse_if_substance_problem: float = 0.85
    substance_misuse_otherwise: float = 0.12

    def __post_init__(self) -> None:
        _check_mix("sex_mix", self.sex_mix)
        _check_mix("setting_mix", self.setting_mix)
        for setting, shares in self.problem_mix_by_setting:
            name = f"problem_mix_by_setting[{setting}]"
            if len(shares) != len(PrimaryProblem):
                raise ValueError(
                    f"{name} needs one share per primary problem, in this order: "
                    + ", ".join(PrimaryProblem)
                )
            _check_mix(name, tuple(zip(PrimaryProblem, shares, strict=True)))
        _check_every_setting(
            "problem_mix_by_setting", tuple(s for s, _ in self.problem_mix_by_setting)
        )
        _check_every_setting(
            "history_of_violence_by_setting",
            tuple(s for s, _ in self.history_of_violence_by_setting),
        )


@dataclass(frozen=True)
class TherapistParameters:
    """Therapists, their observed attributes and their hidden effects."""

    # About one therapist per 25 clients over the three years, and at least five, so that
    # therapist effects can be estimated even in a small cohort (assumption).
    clients_per_therapist: float = 25.0
    min_therapists: int = 5
    # Professions, with ~15% trainees (assumption given in the brief).
    profession_mix: Mix = (
        (Profession.PSYCHOLOGIST, 0.40),
        (Profession.PSYCHIATRIST, 0.10),
        (Profession.COUNSELOR, 0.15),
        (Profession.SOCIAL_WORKER, 0.12),
        (Profession.TRAINEE, 0.15),
        (Profession.OTHER, 0.08),
    )
    orientation_mix: Mix = (
        (Orientation.CBT, 0.40),
        (Orientation.PSYCHODYNAMIC, 0.20),
        (Orientation.HUMANISTIC, 0.10),
        (Orientation.SYSTEMIC, 0.10),
        (Orientation.INTEGRATIVE, 0.15),
        (Orientation.OTHER, 0.05),
    )
    # Trainees have 0..3 years of experience; others 2 years plus a gamma(2, 6) spread
    # (mean 14 years), capped (assumption).
    trainee_max_years: float = 3.0
    experienced_min_years: float = 2.0
    experience_gamma_shape: float = 2.0
    experience_gamma_scale: float = 6.0
    max_years: float = 45.0
    # Caseload = base + Poisson(extra). Assumption; it has no effect on outcomes, so a
    # model that leans on it is fitting noise.
    caseload_base: int = 10
    caseload_poisson_mean: float = 18.0
    # Hidden therapist effect on clients' alliance level, SD in client-alliance SDs
    # (assumption: therapists differ in the alliances they form, a modest share of
    # variance; about 8% here).
    alliance_effect_sd: float = 0.30
    # Hidden therapist effect on the dropout hazard, SD in log-odds. Saxon et al. (2017),
    # Clin Psychol Psychother 24(3), found therapists account for 12.6% of dropout
    # variance; 0.55 here plus the therapist's alliance effect gives therapists about 12%
    # of the latent-scale variance of the true risk at session 1 (checked when calibrating).
    dropout_effect_sd: float = 0.55
    # Experience raises alliance and lowers dropout a little (assumption on the size);
    # trainees have more dropout (Swift & Greenberg 2012, J Consult Clin Psychol 80(4)).
    alliance_per_year_experience: float = 0.01
    dropout_log_odds_per_year_experience: float = -0.015
    trainee_dropout_log_odds: float = 0.30
    # Experience effects are centred here so the intercepts describe a typical therapist.
    reference_years: float = 10.0

    def __post_init__(self) -> None:
        _check_mix("profession_mix", self.profession_mix)
        _check_mix("orientation_mix", self.orientation_mix)


@dataclass(frozen=True)
class AllianceParameters:
    """The latent alliance, its ruptures and repairs, and how it is measured."""

    # Client-level SD of the alliance level beyond therapist and case-mix effects, chosen
    # so that the total between-client SD is close to 1 (assumption).
    client_sd: float = 0.9
    # A scenario knob, 0 in the development cohort: shifts every client's latent alliance
    # (in SDs) to simulate a service whose clients form a weaker alliance, as monitoring
    # must notice (`alliance-risk synth --alliance-shift`).
    level_shift: float = 0.0
    # Interpreter-mediated therapy forms a roughly comparable alliance (Brune et al. 2011);
    # the small negative shift is an assumption.
    interpreter_shift: float = -0.10
    # Poorer alliance with personality, psychosis and substance problems (assumption).
    problem_shift: Mix = (
        (PrimaryProblem.PERSONALITY, -0.30),
        (PrimaryProblem.PSYCHOSIS, -0.30),
        (PrimaryProblem.SUBSTANCE, -0.25),
    )
    # More anxious clients start with a slightly poorer alliance (assumption).
    per_anxiety_sd: float = -0.15
    # The alliance grows a little over the first sessions, then levels off (assumption).
    growth_per_session: float = 0.06
    growth_sessions: int = 4
    # Ruptures: a three-state Markov chain over sessions (intact -> rupture -> repaired ->
    # rupture ...). Safran, Muran & Eubanks-Carter (2011), Psychotherapy 48(1), describe
    # ruptures as common and usually repaired, and repair as linked to better outcome;
    # the per-session probabilities and effect sizes below are assumptions of that shape.
    rupture_onset: float = 0.12
    rupture_repair: float = 0.55
    rupture_penalty: float = 0.90
    repair_bonus: float = 0.15
    # Latent alliance 0 is shown as this percent of maximum (POMP) on each instrument,
    # and one latent SD as this many POMP points (assumption: SRS totals crowd near the
    # top of the scale, Duncan et al. 2003; WAI-SR and TASC-R less so).
    instrument_pomp_mean_sd: tuple[tuple[str, float, float], ...] = (
        ("WAI-SR", 72.0, 14.0),
        ("SRS", 84.0, 11.0),
        ("TASC-R", 78.0, 13.0),
    )
    # Share of observed-score variance that is true alliance (assumption; the brief asks
    # for about 0.85, typical of these questionnaires' internal consistency).
    reliability: float = 0.85
    # Therapists rate the alliance lower than clients do (Tryon, Blackwell & Hammel 2007,
    # Psychotherapy Research 17(6)); the size in POMP points is an assumption.
    therapist_rater_shift_pomp: float = -5.0
    # Share of clients whose alliance is rated by themselves rather than the therapist.
    client_rater_share: float = 0.90
    # Attended sessions without the session questionnaires (alliance, GAD-7, distress) at a
    # typical alliance (assumption given in the brief: about 5%) ...
    unrated_share: float = 0.05
    # ... and more often when the alliance at that session is poor: log-odds per latent SD
    # (missing not at random; direction from routine outcome monitoring, where clients who
    # do worse more often leave measures out: Jensen, Mortensen & Lotz 2017, Psychology 8;
    # Karin et al. 2018, JMIR Ment Health 5(2):e22. The size is an assumption).
    unrated_per_alliance_sd: float = -0.50


@dataclass(frozen=True)
class AnxietyParameters:
    """Baseline anxiety and the session-by-session GAD-7 and distress ratings."""

    # Clients with anxiety or trauma problems start more anxious (latent SDs; assumption).
    problem_shift: Mix = ((PrimaryProblem.ANXIETY, 0.50), (PrimaryProblem.TRAUMA, 0.30))
    # GAD-7 (Spitzer et al. 2006, 0..21): a clinical sample around the moderate cut-off of
    # 10; mean, SD and session-to-session noise are assumptions.
    gad7_mean: float = 12.0
    gad7_sd: float = 4.5
    gad7_noise_sd: float = 2.0
    # Pre-session distress (0..10); assumption.
    distress_mean: float = 5.5
    distress_sd: float = 1.8
    distress_noise_sd: float = 1.2
    # Anxiety falls over treatment, faster with a better alliance (direction from the
    # alliance-outcome association, r ~ .28, Flückiger et al. 2018, Psychotherapy 55(4);
    # the rates, in latent SDs per session, are assumptions).
    improvement_per_session: float = 0.05
    improvement_per_alliance_sd: float = 0.03
    # Attended sessions without a GAD-7 or a distress rating (assumption).
    gad7_missing_share: float = 0.08
    distress_missing_share: float = 0.10


@dataclass(frozen=True)
class AttendanceParameters:
    """Planned episode length, session dates and missed sessions."""

    # Planned number of sessions, uniform (assumption; at least 8 so every client can
    # reach all five landmarks).
    planned_sessions_range: tuple[int, int] = (8, 24)
    # Days from intake to session 1, and between sessions: weekly with jitter (assumption).
    first_session_delay_days: tuple[int, int] = (3, 21)
    session_gap_days: tuple[int, int] = (5, 10)
    # Missed-session log-odds: about 8% missed at a typical alliance (assumption), more
    # with a poor alliance, during a rupture, after earlier misses and with substance
    # misuse; fewer on a ward or in a day clinic, where the client is on site.
    miss_intercept: float = -2.45
    miss_per_alliance_sd: float = -0.30
    miss_rupture: float = 0.80
    miss_after_earlier_miss: float = 0.70
    miss_substance_misuse: float = 0.50
    miss_inpatient: float = -1.00
    miss_day_clinic: float = -0.50


@dataclass(frozen=True)
class DropoutParameters:
    """The dropout hazard, evaluated after each attended session before the last planned one."""

    # Intercept calibrated by simulation to dropout near 19.7% of ended episodes, the
    # weighted mean of Swift & Greenberg (2012), J Consult Clin Psychol 80(4): 547-559. The
    # hazard applies after every held session, attended or missed. Checked with every
    # episode followed to its end: 19.5% of 40,000 simulated episodes (seed 7).
    intercept: float = -4.22
    # The hazard falls with each session, so most dropout happens early (assumption; the
    # brief asks that most dropout falls in the early sessions).
    per_session: float = -0.15
    # Poorer current latent alliance raises the hazard. Size calibrated by simulation so
    # that completers and dropouts differ in observed early alliance by d ~ 0.55 (Sharf,
    # Primavera & Diener 2010, Psychotherapy 47(4): 637-645); d = 0.54 in that check.
    per_alliance_sd: float = -0.62
    # An unrepaired rupture adds to the hazard beyond its effect on the alliance (Safran
    # et al. 2011 direction; size an assumption).
    rupture: float = 0.50
    # Each missed session so far (counted up to `missed_cap`) raises the hazard (assumption).
    per_missed_session: float = 0.40
    missed_cap: int = 2
    # More anxious clients drop out more in the first sessions only (assumption).
    per_anxiety_sd_early: float = 0.25
    early_sessions: int = 3
    # Interpreter-mediated therapy: slightly more dropout (assumption, kept small).
    interpreter: float = 0.15
    # Sites (services) differ in their dropout rates beyond their clients and therapists:
    # a hidden site effect, SD in log-odds (assumption; services differ widely in completion
    # rates, as NHS Talking Therapies' published service-level figures show).
    site_effect_sd: float = 0.30
    # Children and adolescents drop out more than adults (de Haan et al. 2013, Clin
    # Psychol Rev 33(5)); younger adults more than older ones (Swift & Greenberg 2012).
    # Sizes are assumptions.
    child: float = 0.45
    per_adult_decade: float = -0.10
    reference_age: float = 35.0


@dataclass(frozen=True)
class EndingParameters:
    """How episodes end besides completion, and how the clinic records the end."""

    # A client who decides to stop often just does not come back: with this probability
    # they miss one or more further booked sessions before the clinic records the dropout
    # (assumption: unilateral endings without notice are common, Westmacott et al. 2010,
    # Psychother Res 20(4); no published share was found) ...
    no_show_share: float = 0.60
    # ... and after each such missed session, miss one more with this probability
    # (geometric; mean 2 no-shows; assumption), never beyond the booked schedule.
    no_show_continue: float = 0.50
    # Days from the last booked session to the recorded end (uniform, inclusive;
    # assumption): a dropout is recorded after some weeks without contact, a completion on
    # the day of the last session, a transfer or other ending within two weeks.
    dropout_record_delay_days: tuple[int, int] = (0, 28)
    other_record_delay_days: tuple[int, int] = (0, 14)
    # Per-session probability, after a held session before the last planned one, that the
    # episode ends by transfer (referred elsewhere, moved) or for another reason (assumption:
    # about one episode in eleven is transferred and one in thirty ends otherwise).
    transfer_per_session: float = 0.007
    other_per_session: float = 0.002


@dataclass(frozen=True)
class ViolenceParameters:
    """The hazard of a first violent incident toward others, per interval in treatment."""

    # Intercept by setting, calibrated by simulation to a few percent of outpatients and
    # about 15% of inpatients over the episode (Iozzino et al. 2015, PLoS One 10(6):
    # e0128536: about 17% of acute psychiatric inpatients commit violence).
    intercept_by_setting: Mix = (
        (Setting.OUTPATIENT, -6.35),
        (Setting.INPATIENT, -5.00),
        (Setting.DAY_CLINIC, -5.75),
    )
    # History of violence and substance misuse are among the strongest risk factors (Witt,
    # van Dorn & Fazel 2013, PLoS One 8(2): e55942); the log-odds sizes are assumptions.
    history_of_violence: float = 1.20
    substance_misuse: float = 0.80
    # Poorer initial (latent) alliance raises the risk beyond history of violence
    # (Beauford, McNiel & Binder 1997, Am J Psychiatry 154(9)); size an assumption.
    per_alliance_sd: float = -0.45
    # Modest effects of sex, psychosis and age (assumption).
    male: float = 0.35
    psychosis: float = 0.40
    child: float = -0.50
    per_adult_decade: float = -0.15
    reference_age: float = 35.0
    # Risk is highest early in the episode and eases with each interval (assumption).
    per_interval: float = -0.03

    def __post_init__(self) -> None:
        _check_every_setting("intercept_by_setting", tuple(s for s, _ in self.intercept_by_setting))


@dataclass(frozen=True)
class CohortParameters:
    """All parameters of the synthetic cohort; pass a modified copy to explore scenarios."""

    population: PopulationParameters = field(default_factory=PopulationParameters)
    therapists: TherapistParameters = field(default_factory=TherapistParameters)
    alliance: AllianceParameters = field(default_factory=AllianceParameters)
    anxiety: AnxietyParameters = field(default_factory=AnxietyParameters)
    attendance: AttendanceParameters = field(default_factory=AttendanceParameters)
    dropout: DropoutParameters = field(default_factory=DropoutParameters)
    ending: EndingParameters = field(default_factory=EndingParameters)
    violence: ViolenceParameters = field(default_factory=ViolenceParameters)
