"""`python -m services.order`: run the order service (settings from A4CO_* variables)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.order.service import definition

main(definition(), STREAMS)
