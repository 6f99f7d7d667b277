"""agentcore-probe: does this AgentCore Gateway really work end to end over MCP, and if not, why?"""

__version__ = "0.1.0"
