"""Populations: synthetic users (simulate) and real data-set importers (OkCupid).

``simulate(n, seed, today=...)`` draws a realistic population over real US metro areas with
correlated questionnaire answers; ``simulate_and_store`` writes it in one transaction.
``import_okcupid(path, uow, today=...)`` imports the OkCupid 2021 release idempotently; the field
mapping is documented in ``okcupid_mapping``.
"""

from perfectmatch.populations.answers import AnswerMatrix, answer_bank, draw_traits
from perfectmatch.populations.okcupid import ImportReport, OkCupidRows, import_okcupid, read_okcupid
from perfectmatch.populations.responses import ResponseSequence, score_dimensions
from perfectmatch.populations.simulate import SimulatedPopulation, simulate
from perfectmatch.populations.store import SimulationReport, save_population, simulate_and_store

__all__ = [
    "AnswerMatrix",
    "ImportReport",
    "OkCupidRows",
    "ResponseSequence",
    "SimulatedPopulation",
    "SimulationReport",
    "answer_bank",
    "draw_traits",
    "import_okcupid",
    "read_okcupid",
    "save_population",
    "score_dimensions",
    "simulate",
    "simulate_and_store",
]
