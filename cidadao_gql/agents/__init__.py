"""Analysis agents: each a documented statistic with a threshold, returning findings with
the numbers that triggered them."""

from cidadao_gql.agents.base import Agent, Finding, Target
from cidadao_gql.agents.patterns import NearDuplicate, SplitPurchase
from cidadao_gql.agents.single_contracts import AmendmentCeiling, NewSupplier, SanctionedSupplier
from cidadao_gql.agents.statistics import Benford, Concentration, PriceOutlier

AGENTS: tuple[Agent, ...] = (
    PriceOutlier(),
    Concentration(),
    SplitPurchase(),
    SanctionedSupplier(),
    Benford(),
    NearDuplicate(),
    AmendmentCeiling(),
    NewSupplier(),
)

__all__ = ["AGENTS", "Agent", "Finding", "Target"]
