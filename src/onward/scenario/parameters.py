"""The registry of behavioural parameters: what each one means, its unit and its hard bounds.

The registry is the single list that the scenario schema validates against, that the
engine reads, and that ``docs/odd.md`` documents (a test keeps them in sync). A scenario
gives each parameter a value, an optional prior range and a source; the registry says what
values are admissible at all.

Examples
--------
>>> from onward.scenario.parameters import GLOBAL_PARAMETERS
>>> GLOBAL_PARAMETERS["integration.discrimination_rate"].kind
'probability'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["probability", "rate", "real", "positive", "months", "switch"]


@dataclass(frozen=True)
class ParamSpec:
    """What one parameter is: where it lives, what it means, which values it may take."""

    path: str
    description: str
    unit: str
    kind: Kind
    lower: float | None = None
    upper: float | None = None

    @property
    def group(self) -> str:
        return self.path.split(".")[0]

    @property
    def name(self) -> str:
        return self.path.split(".")[-1]

    def bounds(self) -> tuple[float | None, float | None]:
        """Hard bounds implied by the kind, narrowed by explicit ones."""
        lo, hi = self.lower, self.upper
        if self.kind in ("probability", "switch"):
            lo = 0.0 if lo is None else max(lo, 0.0)
            hi = 1.0 if hi is None else min(hi, 1.0)
        elif self.kind in ("rate", "positive", "months"):
            lo = 0.0 if lo is None else lo
        return lo, hi

    def admits(self, x: float) -> bool:
        """Whether ``x`` lies within the hard bounds (:meth:`bounds`)."""
        lo, hi = self.bounds()
        return not (lo is not None and x < lo or hi is not None and x > hi)


def _specs(*specs: ParamSpec) -> dict[str, ParamSpec]:
    return {s.path: s for s in specs}


P = ParamSpec

#: Parameters that hold for the whole scenario, grouped by the life-course stage they drive.
GLOBAL_PARAMETERS: dict[str, ParamSpec] = _specs(
    # 2. resettlement
    P("resettlement.support_months", "months of resettlement support after arrival", "months",
      "months", 0, 240),
    P("resettlement.settlement_grant", "settlement money paid on arrival", "months of native wage",
      "positive"),
    P("resettlement.support_relief", "how much an active support period lowers push", "utility",
      "positive"),
    # 3. integration
    P("integration.job_finding_rate", "monthly chance an unemployed person finds work (average "
      "skill, no discrimination)", "per month", "probability"),
    P("integration.job_loss_rate", "monthly chance an employed person loses work", "per month",
      "probability"),
    P("integration.skill_job_effect", "log-odds gain in job finding per unit of skill",
      "log-odds", "real"),
    P("integration.hiring_discrimination", "share of job offers lost to discrimination by place "
      "of origin", "share", "probability"),
    P("integration.wage_discrimination", "wage penalty for the foreign-born", "share",
      "probability"),
    P("integration.glass_ceiling", "cap on earnings of the foreign-born, relative to the native "
      "mean wage", "native mean wage", "positive", 0.1, 10),
    P("integration.potential_base", "potential earnings of the least capable (no "
      "discrimination)", "native mean wage", "positive"),
    P("integration.potential_slope", "extra potential earnings per unit of capability",
      "native mean wage", "positive"),
    P("integration.welfare_income", "income while unemployed (benefits)", "native mean wage",
      "positive"),
    P("integration.discrimination_rate", "monthly chance of a discrimination event (origin, "
      "accent)", "per month", "probability"),
    P("integration.discrimination_memory", "share of felt discrimination kept from one month to "
      "the next", "share", "probability"),
    P("integration.savings_rate", "share of income above subsistence that is saved", "share",
      "probability"),
    P("integration.subsistence", "income spent on living costs before saving",
      "native mean wage", "positive"),
    # 4. aspiration
    P("aspiration.w_frustration", "push per unit of frustrated mobility (potential minus actual "
      "earnings, relative)", "utility", "real"),
    P("aspiration.w_discrimination", "push per unit of felt discrimination", "utility", "real"),
    P("aspiration.w_unemployment", "push of being unemployed", "utility", "real"),
    P("aspiration.w_deprivation", "push per unit of income below the native mean", "utility",
      "real"),
    P("aspiration.w_welfare", "pull per unit of destination welfare", "utility", "real"),
    P("aspiration.w_schooling", "pull per unit of destination schooling, for parents", "utility",
      "real"),
    P("aspiration.w_protection", "pull per unit of destination social protection", "utility",
      "real"),
    P("aspiration.w_socdem", "pull of a social-democratic system, times the person's "
      "preference for one", "utility", "real"),
    P("aspiration.w_recognition", "pull per unit of perceived recognition chance", "utility",
      "real"),
    P("aspiration.w_community", "pull per log person of co-ethnic community at the destination",
      "utility", "real"),
    P("aspiration.intercept", "baseline of aspiration (log-odds)", "log-odds", "real"),
    P("aspiration.satisfaction_income", "life satisfaction per unit of income", "score", "real"),
    P("aspiration.satisfaction_discrimination", "life satisfaction lost per unit of felt "
      "discrimination", "score", "real"),
    P("aspiration.satisfaction_support", "life satisfaction from social support (log degree)",
      "score", "real"),
    # 5. capability
    P("capability.min_skill", "skill needed to organise a move without a broker", "skill 0-1",
      "probability"),
    P("capability.information_decay", "monthly chance that knowledge of a destination fades "
      "without refreshing", "per month", "probability"),
    # 6. decision
    P("decision.base_hazard", "monthly chance of moving at full aspiration and capability",
      "per month", "probability"),
    P("decision.choice_scale", "scale of the multinomial logit over known destinations",
      "1/utility", "positive"),
    P("decision.cost_sensitivity", "disutility per unit of travel cost relative to funds",
      "utility", "positive"),
    P("decision.tpb_w_attitude", "theory of planned behaviour: weight of attitude", "log-odds",
      "real"),
    P("decision.tpb_w_norm", "theory of planned behaviour: weight of the subjective norm (share "
      "of contacts who moved on)", "log-odds", "real"),
    P("decision.tpb_w_control", "theory of planned behaviour: weight of perceived behavioural "
      "control", "log-odds", "real"),
    P("decision.tpb_intercept", "theory of planned behaviour: intercept", "log-odds", "real"),
    # 7. journey and claim
    P("journey.concealment", "chance that a mover conceals the first-country stay when the "
      "destination checks prior nationality", "share", "probability"),
    P("journey.broker_concealment", "extra chance of concealment when a broker arranged the "
      "move", "share", "probability"),
    # 8. after the decision
    P("after_decision.refused_return", "chance a refused claimant returns to the first country",
      "share", "probability"),
    P("after_decision.refused_remigrate", "chance a refused claimant moves on again at once",
      "share", "probability"),
    P("after_decision.irregular_remigrate", "monthly chance an irregular migrant moves on again",
      "per month", "probability"),
    # 9. life at destination
    P("destination_life.language_adult", "monthly language learning rate of adults", "per month",
      "probability"),
    P("destination_life.language_child", "monthly language learning rate of children",
      "per month", "probability"),
    P("destination_life.job_finding", "monthly job finding at the destination at full language",
      "per month", "probability"),
    P("destination_life.coethnic_employment", "chance a job is with a co-ethnic employer at zero "
      "language", "share", "probability"),
    P("destination_life.friction_rate", "monthly friction events per unit of competition with "
      "other co-ethnic groups", "per month", "probability"),
    P("destination_life.identity_loss_child", "monthly loss of heritage identity among children "
      "without community", "per month", "probability"),
    # networks
    P("network.mean_degree", "mean number of ties per household", "ties", "positive", 0, 200),
    P("network.degree_tail", "Pareto tail index of the degree distribution (smaller = heavier)",
      "index", "positive", 1.05, 10),
    P("network.clustering", "share of ties within the same arrival cohort and region", "share",
      "probability"),
    P("network.diaspora_share", "monthly chance a contact abroad passes news of the destination",
      "per month", "probability"),
    P("network.peer_share", "monthly chance an informed person passes news to a contact",
      "per month", "probability"),
    # brokers
    P("brokers.share", "share of households that act as brokers", "share", "probability"),
    P("brokers.contacts", "people a broker contacts per month", "per month", "positive", 0, 1000),
    P("brokers.fee", "broker fee", "months of native wage", "positive"),
    P("brokers.activity", "broker activity level (1 = normal, 0 = prosecuted out)", "share",
      "probability"),
    P("brokers.uptake", "chance a contacted person with aspiration takes up an offer",
      "share", "probability"),
    P("brokers.optimism", "rumour bias: added to the perceived recognition chance passed on by "
      "brokers", "probability", "real", -1, 1),
    P("brokers.success_memory", "share of perceived destination success kept each month (lag "
      "of adaptive targeting)", "share", "probability"),
    P("brokers.success_focus", "how sharply brokers favour destinations that recently "
      "recognised claims", "1/probability", "positive", 0, 50),
    P("brokers.targeting", "how strongly brokers seek out the capable and aspiring", "log-odds",
      "real"),
    # population dynamics
    P("population.birth_rate", "monthly chance a household with a woman aged 18-40 has a child",
      "per month", "probability"),
)

#: Parameters that every destination sets for itself.
DESTINATION_PARAMETERS: dict[str, ParamSpec] = _specs(
    P("recognition_rate", "chance a claim that passes the prior-nationality check is "
      "recognised", "share", "probability"),
    P("processing_months", "mean months from claim to first decision", "months", "months", 0.1,
      120),
    P("checks_prior_nationality", "1 when the destination checks first-country nationality "
      "(a holder found out is refused)", "switch", "switch"),
    P("detection", "chance a concealed first-country stay is found out when checked", "share",
      "probability"),
    P("welfare", "welfare generosity index", "index 0-1", "probability"),
    P("schooling", "schooling opportunity for children", "index 0-1", "probability"),
    P("social_protection", "social protection and market regulation", "index 0-1",
      "probability"),
    P("social_democratic", "how social-democratic the system is perceived", "index 0-1",
      "probability"),
    P("travel_cost", "cost of the journey", "months of native wage", "positive"),
    P("journey_months", "months spent travelling", "months", "months", 0, 36),
    P("removal_rate", "monthly chance an irregular migrant is removed to the first country",
      "per month", "probability"),
    P("background_claims", "yearly claims by people who never lived in the first country",
      "persons per year", "positive", 0, 1e6),
    P("background_decline", "share of the background stream lost each year after the start "
      "(0 = constant)", "per year", "probability"),
    P("competition", "competition for work with other co-ethnic groups", "index 0-1",
      "probability"),
    P("open", "1 while the destination admits arrivals (0 = border closed)", "switch", "switch"),
)


#: Parameters read once, when the network and brokers are set up: an event cannot change them.
SETUP_ONLY = frozenset({"network.mean_degree", "network.degree_tail", "network.clustering",
                        "brokers.share"})


def spec_for(target: str) -> ParamSpec | None:
    """Look up the spec of a dotted target, e.g. ``destinations.GBR.recognition_rate``."""
    parts = target.split(".")
    if len(parts) == 3 and parts[0] == "destinations":
        return DESTINATION_PARAMETERS.get(parts[2])
    if len(parts) == 3 and parts[0] == "parameters":
        return GLOBAL_PARAMETERS.get(".".join(parts[1:]))
    return None


def all_specs() -> list[ParamSpec]:
    """Every parameter: global ones, then the per-destination ones (as ``destinations.*.name``)."""
    dest = [
        ParamSpec(f"destinations.*.{s.name}", s.description, s.unit, s.kind, s.lower, s.upper)
        for s in DESTINATION_PARAMETERS.values()
    ]
    return list(GLOBAL_PARAMETERS.values()) + dest
