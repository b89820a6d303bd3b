"""`python -m services.cms`: run the cms service (settings from A4CO_* variables)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.cms.service import definition

main(definition(), STREAMS)
