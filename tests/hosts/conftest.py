import sys
from pathlib import Path

# The suite's modules (harness, hosts, scenarios, matrix) sit beside it.
sys.path.insert(0, str(Path(__file__).parent))
