#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { addWatchdogStack } from '../lib/main.js';

// The app `cdk.json` runs: one stack configured from the `watchdog` context key (or a JSON file named
// by `watchdogConfigFile`). See docs/deploy.md.
const app = new App();
addWatchdogStack(app);
app.synth();
