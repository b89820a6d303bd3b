"""`python -m services.analytics`: run the analytics service (settings from A4CO_* variables)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.analytics.service import definition

main(definition(), STREAMS)
