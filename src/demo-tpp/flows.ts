// The two things the demo third party asks a customer for: read access to accounts (AIS) and one
// payment (PIS), each as an RFC 9396 authorization_details entry of the types Portcullis knows.
import type { AccountInformationDetail, PaymentInitiationDetail } from '../consents/authorization-details.ts';

export const FLOWS = ['accounts', 'payment'] as const;
export type Flow = (typeof FLOWS)[number];

export const isFlow = (value: string): value is Flow => (FLOWS as readonly string[]).includes(value);

export interface FlowRequest {
  label: string;
  scope: string;
  authorizationDetails: AccountInformationDetail[] | PaymentInitiationDetail[];
}

const DAY_MS = 24 * 3600 * 1000;

/** What the demo TPP pushes at PAR for a flow (built per request: the expiry moves with time). */
export function flowRequest(flow: Flow, now = Date.now()): FlowRequest {
  if (flow === 'accounts') {
    return {
      label: 'Connect accounts',
      scope: 'openid accounts',
      authorizationDetails: [
        {
          type: 'account_information',
          permissions: ['accounts', 'balances', 'transactions'],
          // PSD2 RTS Art. 36(5): at most 4 unattended accesses a day.
          frequencyPerDay: 4,
          expirationDateTime: new Date(now + 90 * DAY_MS).toISOString(),
        },
      ],
    };
  }
  return {
    label: 'Pay 12.34 EUR',
    scope: 'openid payments',
    authorizationDetails: [
      {
        type: 'payment_initiation',
        instructedAmount: { amount: '12.34', currency: 'EUR' },
        creditorName: 'Demo Coffee Roasters',
        creditorAccount: { iban: 'GB82WEST12345698765432' },
        remittanceInformation: 'Order 4711',
      },
    ],
  };
}
