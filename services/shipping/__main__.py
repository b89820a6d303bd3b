"""`python -m services.shipping`: run the shipping service (settings from A4CO_* variables)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.shipping.service import definition

main(definition(), STREAMS)
