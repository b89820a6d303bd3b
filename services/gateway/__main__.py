"""`python -m services.gateway`: run the gateway (settings from A4CO_* variables)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.gateway.service import definition

main(definition(), STREAMS)
