agentcore-probe: error: /tmp/review2/wrong.json must hold a JSON object of JWT claims with a string `sub`
