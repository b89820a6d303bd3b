"""`python -m services.recommendation`: run the service (settings from A4CO_* variables)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.recommendation.service import definition

main(definition(), STREAMS)
