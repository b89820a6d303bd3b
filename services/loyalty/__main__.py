"""`python -m services.loyalty`: run the loyalty service (settings from A4CO_* variables)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.loyalty.service import definition

main(definition(), STREAMS)
