"""`python -m services.auth`: run the auth service (settings from A4CO_* variables)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.auth.service import definition

main(definition(), STREAMS)
