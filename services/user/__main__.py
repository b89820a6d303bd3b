"""`python -m services.user`: run the user service (settings from A4CO_* variables)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.user.service import definition

main(definition(), STREAMS)
